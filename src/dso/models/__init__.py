"""Generators: TRELLIS-compatible stage-1 models (flow transformer, structure VAE, sampler,
condition encoders) and the built-in `dso-tiny` model."""
