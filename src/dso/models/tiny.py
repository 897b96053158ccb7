"""`dso-tiny`: the built-in CPU-sized stage-1 generator trained on the procedural world.

A weights folder holds `flow`, `decoder`, `encoder` and `image_encoder`, each as
`<name>.json` + `<name>.safetensors` (the released TRELLIS format), plus `generator.json` with
the default sampler settings. The shipped folder is `dso/assets/dso-tiny/`; `dso pretrain`
writes new ones.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import torch

from dso.models.loading import ModelLoadError, load_model
from dso.models.sampler import SamplerConfig
from dso.models.stage1 import StageOneGenerator

TINY_PARTS = ("flow", "decoder", "encoder", "image_encoder")


def default_weights_dir() -> Path:
    """The folder of the shipped `dso-tiny` weights."""
    return Path(__file__).resolve().parents[1] / "assets" / "dso-tiny"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _sampler_value(path: Path, key: str, value: object) -> object:
    """`value` of generator.json's sampler setting `key`, checked against the default's type."""
    default = getattr(SamplerConfig(), key)
    if isinstance(default, tuple):
        ok = isinstance(value, list) and len(value) == len(default) and all(map(_is_number, value))
        kind, value = f"a list of {len(default)} numbers", tuple(value) if ok else value
    elif isinstance(default, int):
        ok, kind = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok, kind = _is_number(value), "a number"
    else:
        ok, kind = isinstance(value, type(default)), f"a {type(default).__name__}"
    if not ok:
        raise ModelLoadError(f"{path}: sampler setting {key!r} must be {kind}, got {value!r}")
    return value


def read_sampler(directory: Path) -> SamplerConfig:
    """Sampler defaults from `generator.json` (library defaults when absent); an unknown key,
    a value of the wrong type or out of range is a ModelLoadError naming the file and key."""
    path = directory / "generator.json"
    if not path.is_file():
        return SamplerConfig()
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ModelLoadError(f"{path} is not valid json: {err}") from None
    sampler = raw.get("sampler", {}) if isinstance(raw, dict) else None
    if not isinstance(sampler, dict):
        raise ModelLoadError(f"{path} must hold {{'sampler': {{...}}}}")
    known = sorted(f.name for f in fields(SamplerConfig))
    unknown = sorted(set(sampler) - set(known))
    if unknown:
        raise ModelLoadError(f"{path}: unknown sampler setting {unknown[0]!r}; known: {known}")
    values = {key: _sampler_value(path, key, value) for key, value in sampler.items()}
    try:
        return SamplerConfig(**values)
    except ValueError as err:  # a value out of range (SamplerConfig's own checks)
        raise ModelLoadError(f"{path}: {err}") from None


class TinyGenerator(StageOneGenerator):
    """The built-in generator: 64 px images -> 8 x 8^3 latents -> 32^3 occupancy."""

    @classmethod
    def load(
        cls, weights: str | Path | None = None, device: str | torch.device = "cpu"
    ) -> TinyGenerator:
        """Load a `dso-tiny` weights folder (default: the shipped one)."""
        directory = Path(weights) if weights is not None else default_weights_dir()
        if not (directory / "flow.json").is_file():
            hint = " (run `dso pretrain` to create one)" if weights is None else ""
            raise ModelLoadError(f"no dso-tiny weights in {directory}{hint}")
        parts = {name: load_model(directory, name) for name in TINY_PARTS}
        on_cpu = torch.device(device).type == "cpu"
        return cls(
            name="dso-tiny",
            flow=parts["flow"],
            decoder=parts["decoder"],
            encoder=parts["encoder"],
            cond_encoder=parts["image_encoder"],
            sampler=read_sampler(directory),
            device=device,
            # on a CPU, small batches keep activations in cache (measured in
            # benchmarks/generate.py): ~20% less flow time per row, 10-20% less decoding per grid
            flow_batch=32 if on_cpu else None,
            decode_batch=8 if on_cpu else 32,
        )
