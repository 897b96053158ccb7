"""Generators: TRELLIS-compatible stage-1 models (flow transformer, structure VAE, sampler,
condition encoders) and the built-in `dso-tiny` model, behind one `Generator` interface.
Names are imported on first use: importing the package loads none of its modules."""

from __future__ import annotations

from dso._lazy import lazy_exports

_EXPORTS = {
    "GeneratedSample": "dso.models.generator",
    "Generator": "dso.models.generator",
    "ImageError": "dso.models.preprocess",
    "prepare_image": "dso.models.preprocess",
    "read_image": "dso.models.preprocess",
    "available_generators": "dso.models.registry",
    "get_generator": "dso.models.registry",
    "register_generator": "dso.models.registry",
    "SamplerConfig": "dso.models.sampler",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
