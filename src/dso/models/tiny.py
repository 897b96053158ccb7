"""`dso-tiny`: the built-in CPU-sized stage-1 generator trained on the procedural world.

A weights folder holds `flow`, `decoder`, `encoder` and `image_encoder`, each as
`<name>.json` + `<name>.safetensors` (the released TRELLIS format), plus `generator.json` with
the default sampler settings. The shipped folder is `dso/assets/dso-tiny/`; `dso pretrain`
writes new ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from dso.models.loading import ModelLoadError, load_model
from dso.models.sampler import SamplerConfig
from dso.models.stage1 import StageOneGenerator

TINY_PARTS = ("flow", "decoder", "encoder", "image_encoder")


def default_weights_dir() -> Path:
    """The folder of the shipped `dso-tiny` weights."""
    return Path(__file__).resolve().parents[1] / "assets" / "dso-tiny"


def read_sampler(directory: Path) -> SamplerConfig:
    """Sampler defaults from `generator.json` (library defaults when absent)."""
    path = directory / "generator.json"
    if not path.is_file():
        return SamplerConfig()
    raw = json.loads(path.read_text()).get("sampler", {})
    if "cfg_interval" in raw:
        raw["cfg_interval"] = tuple(raw["cfg_interval"])
    return SamplerConfig(**raw)


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
