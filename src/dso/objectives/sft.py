"""SFT baseline (docs/method.md §SFT): plain flow matching on stable samples only."""

from __future__ import annotations

import torch


def sft_loss(err: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean of the per-sample errors `err [B]` (the batch holds stable samples only).

    Returns the scalar loss and stats: err_stable (= the loss value).
    """
    if err.dim() != 1 or err.numel() == 0:
        raise ValueError(f"sft_loss expects a non-empty [B] tensor, got {tuple(err.shape)}")
    loss = err.mean()
    return loss, {"err_stable": float(loss.detach())}
