"""Diffusion-DPO (Wallace et al. 2023) on a pair (w stable, l unstable) of the same prompt.

With per-sample errors of the trained model (err) and of the frozen reference (ref_err),

    inside = -beta/2 * ((err_w - ref_err_w) - (err_l - ref_err_l))
    loss   = mean(-log sigmoid(inside))

At initialisation (model == reference) inside = 0 and the loss is ln 2. The implicit accuracy
is the fraction of pairs with inside > 0, i.e. where the model already prefers w more than the
reference does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dso.objectives.base import PAIRS, Batch, Objective, split_pairs

if TYPE_CHECKING:
    import torch


def dpo_loss(
    err_w: torch.Tensor,
    err_l: torch.Tensor,
    ref_err_w: torch.Tensor,
    ref_err_l: torch.Tensor,
    beta: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Diffusion-DPO loss from per-sample errors `[B]` of the model and of the reference.

    Returns the scalar loss and stats: err_stable (= mean err_w), err_unstable (= mean err_l),
    ref_err_stable, ref_err_unstable, implicit_acc, reward_margin (mean inside term).
    """
    shape = err_w.shape
    if err_w.dim() != 1 or any(e.shape != shape for e in (err_l, ref_err_w, ref_err_l)):
        raise ValueError(
            "dpo_loss expects four [B] tensors of equal shape; got "
            f"{[tuple(e.shape) for e in (err_w, err_l, ref_err_w, ref_err_l)]}"
        )
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta}")
    import torch
    import torch.nn.functional as F

    ref_w, ref_l = ref_err_w.detach(), ref_err_l.detach()
    inside = -0.5 * beta * ((err_w - ref_w) - (err_l - ref_l))
    loss = -F.logsigmoid(inside).mean()
    with torch.no_grad():
        stats = {
            "err_stable": float(err_w.mean()),
            "err_unstable": float(err_l.mean()),
            "ref_err_stable": float(ref_w.mean()),
            "ref_err_unstable": float(ref_l.mean()),
            "implicit_acc": float((inside > 0).float().mean()),
            "reward_margin": float(inside.mean()),
        }
    return loss, stats


@dataclass(frozen=True)
class DPO(Objective):
    """Diffusion-DPO on same-prompt pairs; `batch_size` counts pairs, the reference is the base.

    Each pair shares t, noise and condition dropout, drawn once per pair.
    """

    name = "dpo"
    layout = PAIRS
    samples_per_item = 2
    needs_reference = True
    shares_pair_noise = True
    beta: float = 500.0

    def noise_rows(self, rows: int) -> int:
        return rows // 2

    def loss(self, err: torch.Tensor, ref: torch.Tensor | None, batch: Batch
             ) -> tuple[torch.Tensor, dict[str, float]]:
        if ref is None or not batch.paired:
            raise ValueError("dpo needs a paired batch and the reference errors")
        won, lost = split_pairs(batch.stable)
        if not (bool(won.all()) and not bool(lost.any())):  # the loss's sign rests on it
            raise ValueError("dpo needs the stable (winning) samples in the batch's first half "
                             "and the unstable ones in the second")
        (err_w, err_l), (ref_w, ref_l) = split_pairs(err), split_pairs(ref)
        return dpo_loss(err_w, err_l, ref_w, ref_l, self.beta)
