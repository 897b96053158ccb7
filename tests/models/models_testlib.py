"""Helpers shared by the models tests."""

from __future__ import annotations

from pathlib import Path

import torch


def randomise(model: torch.nn.Module, std: float = 0.2) -> torch.nn.Module:
    """Non-trivial weights everywhere (zero-initialised layers would hide bugs)."""
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, std)
    return model


# Reference data written by the TRELLIS reference implementation, vendored byte for byte:
# official_layout.json (keys and shapes of the released stage-1 models), configs.json and the
# golden vectors (*.safetensors) of small models in the released layout.
GOLDEN_DIR = Path(__file__).resolve().parent / "golden" / "trellis-stage1"
# The same for TRELLIS.2's stage-1 flow (its own reference implementation): flow_rope (the
# released options), flow_ape_sharemod (the options apart from RoPE), sampler (a trajectory).
GOLDEN2_DIR = Path(__file__).resolve().parent / "golden" / "trellis2-stage1"
