"""Generators: TRELLIS-compatible stage-1 models (flow transformer, structure VAE, sampler,
condition encoders) and the built-in `dso-tiny` model, behind one `Generator` interface."""

from dso.models.generator import GeneratedSample, Generator
from dso.models.preprocess import ImageError, prepare_image, read_image
from dso.models.registry import available_generators, get_generator, register_generator
from dso.models.sampler import SamplerConfig

__all__ = [
    "GeneratedSample",
    "Generator",
    "ImageError",
    "SamplerConfig",
    "available_generators",
    "get_generator",
    "prepare_image",
    "read_image",
    "register_generator",
]
