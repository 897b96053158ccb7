"""`PretrainConfig`: every setting of `dso pretrain`, validated, saved beside the weights."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class PretrainConfig:
    """Sizes and schedule of the built-in model (docs/formats.md §dso-tiny). Defaults: the shipped
    dso-tiny."""

    seed: int = 0
    # structure VAE: 32^3 occupancy <-> latent_channels x 8^3
    latent_channels: int = 8
    vae_channels: tuple[int, ...] = (16, 32, 64)  # encoder order; the decoder uses the reverse
    vae_res_blocks: int = 0  # ResBlocks per level (0: only up/down convolutions)
    vae_middle_blocks: int = 1  # ResBlocks at the latent resolution
    vae_steps: int = 1200
    vae_warmup_steps: int = 20
    vae_batch: int = 8
    vae_lr: float = 2e-3
    kl_weight: float = 1e-4
    dice_weight: float = 0.5
    # flow transformer + image encoder, trained jointly
    flow_width: int = 128
    flow_blocks: int = 4
    flow_heads: int = 4
    mlp_ratio: float = 2.0
    patch_size: int = 2
    cond_width: int = 128
    image_size: int = 64
    flow_steps: int = 6000
    flow_batch: int = 16
    flow_lr: float = 5e-4
    warmup_steps: int = 200
    weight_decay: float = 0.01
    cond_dropout: float = 0.1
    # default sampler written to generator.json
    sample_steps: int = 12
    guidance: float = 7.5
    log_every: int = 25
    save_dtype: str = "float16"  # dtype of the written safetensors (float32 or float16)

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        positive = (
            "latent_channels",
            "vae_batch",
            "flow_width",
            "flow_blocks",
            "flow_heads",
            "patch_size",
            "cond_width",
            "image_size",
            "flow_batch",
            "sample_steps",
            "log_every",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in (
            "vae_res_blocks",
            "vae_middle_blocks",
            "vae_steps",
            "vae_warmup_steps",
            "flow_steps",
            "warmup_steps",
            "kl_weight",
            "dice_weight",
            "weight_decay",
            "guidance",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("vae_lr", "flow_lr"):
            lr = getattr(self, name)
            if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {lr}")
        if len(self.vae_channels) < 1 or min(self.vae_channels) < 1:
            raise ValueError(f"vae_channels must be positive, got {self.vae_channels}")
        if self.flow_width % self.flow_heads:
            raise ValueError(f"flow_width {self.flow_width} not divisible by {self.flow_heads}")
        if not 0 <= self.cond_dropout < 1:
            raise ValueError(f"cond_dropout must be in [0, 1), got {self.cond_dropout}")
        if self.save_dtype not in ("float32", "float16", "bfloat16"):
            raise ValueError(f"save_dtype must be float32, float16 or bfloat16: {self.save_dtype}")
        if self.image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8, got {self.image_size}")

    def latent_resolution(self, grid_resolution: int) -> int:
        """Latent grid size for an occupancy grid of `grid_resolution`."""
        down = 2 ** (len(self.vae_channels) - 1)
        if grid_resolution % down or (grid_resolution // down) % self.patch_size:
            raise ValueError(
                f"grid resolution {grid_resolution} does not fit {len(self.vae_channels) - 1} "
                f"downsamplings and patch size {self.patch_size}"
            )
        return grid_resolution // down

    def to_dict(self) -> dict:
        """Plain-json form."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, raw: dict) -> PretrainConfig:
        """Inverse of `to_dict`; unknown keys raise ValueError."""
        names = {f.name for f in fields(cls)}
        unknown = set(raw) - names
        if unknown:
            raise ValueError(f"unknown pretrain settings {sorted(unknown)}")
        if "vae_channels" in raw:
            raw = {**raw, "vae_channels": tuple(raw["vae_channels"])}
        return cls(**raw)

    @classmethod
    def from_json(cls, path: str | Path) -> PretrainConfig:
        """Read a config written by `to_dict` (e.g. a previous run's pretrain.json)."""
        try:
            raw = json.loads(Path(path).read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from None
        return cls.from_dict(raw.get("config", raw))
