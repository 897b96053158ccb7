"""Helpers shared by the models tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def randomise(model: torch.nn.Module, std: float = 0.2) -> torch.nn.Module:
    """Non-trivial weights everywhere (zero-initialised layers would hide bugs)."""
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, std)
    return model


def final_norm_input(model: torch.nn.Module, norm: torch.nn.Module,
                     pixels: torch.Tensor) -> tuple[torch.Tensor, object]:
    """(what reaches `norm` in one no-grad forward of a transformers ViT, the model's output),
    caught by a forward pre-hook: unlike `hidden_states[-1]`, the same on every transformers."""
    seen: list[torch.Tensor] = []
    hook = norm.register_forward_pre_hook(lambda _module, args: seen.append(args[0]))
    try:
        with torch.no_grad():
            out = model(pixel_values=pixels)
    finally:
        hook.remove()
    assert len(seen) == 1
    return seen[0], out


# Reference data written by the TRELLIS reference implementation, vendored byte for byte:
# official_layout.json (keys and shapes of the released stage-1 models), configs.json and the
# golden vectors (*.safetensors) of small models in the released layout.
GOLDEN_DIR = Path(__file__).resolve().parent / "golden" / "trellis-stage1"
# The same for TRELLIS.2's stage-1 flow (its own reference implementation): flow_rope (the
# released options), flow_ape_sharemod (the options apart from RoPE), sampler (a trajectory).
GOLDEN2_DIR = Path(__file__).resolve().parent / "golden" / "trellis2-stage1"


def assert_generates_8cubed(gen, steps: int) -> None:
    """A stage-1 generator at golden size (8 x 4^3 latents, 8^3 grids) samples through the
    Generator interface: seeds per sample, batch size not changing the samples, encode."""
    assert gen.resolution == 8 and gen.latent_shape == (8, 4, 4, 4)
    images = [np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)]
    a = gen.generate(images, n=2, seed=3, steps=steps)
    b = gen.generate(images, n=2, seed=3, steps=steps, batch_size=1)
    assert [s.seed for s in a] == [3, 4]
    assert torch.allclose(a[1].latent, b[1].latent, atol=1e-5)
    assert a[0].occupancy.shape == (8, 8, 8)
    assert gen.encode(a[0].occupancy).shape == (1, 8, 4, 4, 4)
