"""SFT baseline (docs/method.md §SFT): plain flow matching on stable samples only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dso.objectives.base import STABLE, Batch, PairDraws

if TYPE_CHECKING:
    import torch


def sft_loss(err: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean of the per-sample errors `err [B]` (the batch holds stable samples only).

    Returns the scalar loss and stats: err_stable (= the loss value).
    """
    if err.dim() != 1 or err.numel() == 0:
        raise ValueError(f"sft_loss expects a non-empty [B] tensor, got {tuple(err.shape)}")
    loss = err.mean()
    return loss, {"err_stable": float(loss.detach())}


@dataclass(frozen=True)
class SFT(PairDraws):
    """Flow matching on stable rows; no reference, no pairs.

    With `paired_dro` and `pair_noise="shared"` (the demo sets them for all its runs), rows i
    and i + B/2 share t, noise and dropout as paired DRO's do, although they are unrelated
    stable rows: dso has always drawn them so, and keeps it so that runs reproduce.
    """

    name = "sft"
    layout = STABLE

    def loss(self, err: torch.Tensor, ref: torch.Tensor | None, batch: Batch
             ) -> tuple[torch.Tensor, dict[str, float]]:
        if not bool(batch.stable.all()):  # as DPO checks its layout
            raise ValueError(f"sft trains on stable samples only; this batch holds "
                             f"{int((~batch.stable).sum())} unstable ones")
        return sft_loss(err)
