"""Helpers shared by the models tests."""

from __future__ import annotations

import torch


def randomise(model: torch.nn.Module, std: float = 0.2) -> torch.nn.Module:
    """Non-trivial weights everywhere (zero-initialised layers would hide bugs)."""
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, std)
    return model
