"""Condition encoders: images (uint8 H x W x 3, RGB on black) -> condition tokens [B, L, Dc].

- `TinyImageEncoder`: the built-in model's small convolutional encoder (64 px -> 8 x 8 = 64
  tokens), trained jointly with the `dso-tiny` flow.
- `Dinov2Condition`: TRELLIS's DINOv2 ViT-L/14 with 4 registers through `transformers`
  (`pip install 'dso[trellis]'`), weights from a local folder only: 518 px input, last block's
  output before the final norm, then a non-affine layer norm -> [B, 1374, 1024]
  (docs/formats.md §Conditioning).
- `Dinov3Condition`: TRELLIS.2's DINOv3 ViT-L/16 (4 registers) the same way: 512 px, all 24
  layers, the model's own final norm replaced by a non-affine layer norm -> [B, 1029, 1024]
  (CLS, 4 registers, 32 x 32 patches in row-major order).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from dso._optional import MissingDependency, require

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def images_to_tensor(images: Sequence[np.ndarray], size: int) -> torch.Tensor:
    """uint8 H x W x 3 arrays -> float [B, 3, size, size] in [0, 1] (PIL Lanczos resize)."""
    if len(images) == 0:
        raise ValueError("no images given")
    out = []
    for i, img in enumerate(images):
        arr = np.asarray(img)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise ValueError(f"image {i}: expected uint8 H x W x 3, got {arr.dtype} {arr.shape}")
        if arr.shape[:2] != (size, size):
            arr = np.asarray(Image.fromarray(arr).resize((size, size), Image.LANCZOS))
        out.append(torch.from_numpy(arr.copy()).permute(2, 0, 1))
    return torch.stack(out).float() / 255.0


class TinyImageEncoder(nn.Module):
    """Strided convolutions 64 px -> (64/8)^2 tokens of width `width`, plus position, LayerNorm."""

    def __init__(self, image_size: int = 64, width: int = 128, hidden: int = 64) -> None:
        super().__init__()
        if image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8, got {image_size}")
        self.image_size = image_size
        self.width = width
        self.convs = nn.Sequential(
            nn.Conv2d(3, hidden // 2, 4, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(hidden // 2, hidden, 4, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(hidden, width, 4, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(width, width, 3, padding=1),
        )
        self.pos_emb = nn.Parameter(torch.zeros((image_size // 8) ** 2, width))
        nn.init.normal_(self.pos_emb, std=0.02)
        self.norm = nn.LayerNorm(width)

    @property
    def num_tokens(self) -> int:
        """Number of condition tokens per image."""
        return (self.image_size // 8) ** 2

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """float [B, 3, S, S] in [0, 1] -> tokens [B, (S/8)^2, width]."""
        h = self.convs(pixels * 2 - 1).flatten(2).transpose(1, 2)
        return self.norm(h + self.pos_emb)

    @torch.no_grad()
    def encode_images(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """uint8 images -> condition tokens (no grad)."""
        device = self.pos_emb.device
        return self(images_to_tensor(images, self.image_size).to(device))


class _ViTCondition(nn.Module):
    """A `transformers` ViT from a local folder; features = last block's output (the input of
    the model's own final norm, caught by a hook) through a layer norm without affine (eps
    1e-5), all tokens kept.

    The hook, not `hidden_states[-1]`: transformers 4.56 to 4.57.1 put DINOv3's final-norm
    output there, which would silently give TRELLIS.2 other conditions."""

    model_class = ""  # the transformers class
    final_norm = ""  # the attribute of the transformers model holding its final norm
    label = ""  # how messages name the model
    example = ""  # a hub name of a matching checkpoint, for messages
    default_size = 0  # input pixels of the generator's pipeline

    def __init__(self, path: str | Path, image_size: int | None = None,
                 device: str = "cpu") -> None:
        super().__init__()
        transformers = require("transformers", "trellis", f"the {self.label} condition encoder")
        cls = getattr(transformers, self.model_class, None)
        if cls is None:
            raise MissingDependency(
                f"transformers {transformers.__version__} has no {self.model_class} (needed for "
                f"the {self.label} condition encoder); install a newer one: pip install -U "
                "'dso[trellis]'"
            )
        path = Path(path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"no {self.label} model at {path}: expected a transformers folder (config.json "
                f"and weights) of {self.model_class}, e.g. {self.example}"
            )
        try:  # float32 whatever the stored dtype; every weight from the file, none made up
            self.model, info = cls.from_pretrained(str(path), local_files_only=True,
                                                   dtype=torch.float32, output_loading_info=True)
        except (OSError, ValueError, RuntimeError) as err:  # a missing, truncated, corrupt file
            raise ValueError(f"the {self.label} model at {path} cannot be loaded: {err}"
                             ) from None
        absent = list(info.get("missing_keys") or []) + [
            str(k[0] if isinstance(k, tuple) else k) for k in info.get("mismatched_keys") or []]
        if absent:  # transformers would initialise them at random and only print a report
            raise ValueError(
                f"the {self.label} model at {path} is not a {self.model_class} checkpoint: "
                f"{len(absent)} of its weights are missing or of another shape "
                f"({', '.join(sorted(absent)[:3])}); use e.g. {self.example}")
        if not isinstance(getattr(self.model, self.final_norm, None), nn.Module):
            raise MissingDependency(
                f"transformers {transformers.__version__}'s {self.model_class} has no final norm "
                f"`{self.final_norm}` (needed for the {self.label} condition encoder); install "
                "another version: pip install -U 'dso[trellis]'")
        self.model.to(device).eval()
        self.image_size = image_size or self.default_size
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.to(device)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """float [B, 3, S, S] in [0, 1] -> [B, 1 + registers + patches, hidden]."""
        x = (pixels - self.mean) / self.std
        caught: list[torch.Tensor] = []
        norm: nn.Module = getattr(self.model, self.final_norm)
        hook = norm.register_forward_pre_hook(lambda _module, args: caught.append(args[0]))
        try:
            self.model(pixel_values=x)
        finally:
            hook.remove()
        if len(caught) != 1:
            raise RuntimeError(f"the {self.label} model ran its final norm {len(caught)} times "
                               "in one forward pass; expected once")
        feats = caught[0]  # last block's output, the input of the final layer norm
        return F.layer_norm(feats, feats.shape[-1:])

    @torch.no_grad()
    def encode_images(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """uint8 images (RGB on black = premultiplied) -> condition tokens (no grad)."""
        return self(images_to_tensor(images, self.image_size).to(self.mean.device))


class Dinov2Condition(_ViTCondition):
    """DINOv2-with-registers features in TRELLIS's convention, from a local folder."""

    model_class = "Dinov2WithRegistersModel"
    final_norm = "layernorm"
    label = "DINOv2"
    example = "facebook/dinov2-with-registers-large"
    default_size = 518


class Dinov3Condition(_ViTCondition):
    """DINOv3 ViT features in TRELLIS.2's convention (512 px), from a local folder."""

    model_class = "DINOv3ViTModel"
    final_norm = "norm"
    label = "DINOv3"
    example = "facebook/dinov3-vitl16-pretrain-lvd1689m"
    default_size = 512
