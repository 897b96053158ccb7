"""DRO (docs/method.md §DRO): descend the flow-matching error on stable samples, ascend it on
unstable.

Unpaired: the stable and unstable groups need not come from the same prompt. The loss is the
balanced mean of the two groups,

    loss = 1/2 * mean(err[stable]) - 1/2 * mean(min(err[unstable], ascent_bound)),

so that on a half-and-half batch every sample's gradient has weight 1/B, as in plain flow
matching (SFT), and the learning rate means the same thing for all objectives. The released code
leaves the ascent term unbounded, which lets the unstable error (and the loss) run to -inf;
`ascent_bound` clamps the unstable error, so a sample stops being pushed once its error exceeds
the bound (its gradient is zero there). Two gentler ascents, measured in benchmarks/shape_study.py:
`ascent_weight` scales the unstable term (1: the balanced mean above), and `ascent_margin` with
the frozen base model's errors `ref` bounds it relative to the base,

    ascent = min(err[unstable], ref[unstable] + ascent_margin),

a trust region: an unstable sample is pushed until its error is `ascent_margin` above what the
base model makes of it, and no further.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dso.objectives.base import HALVES, PAIRS, Batch, PairDraws

if TYPE_CHECKING:
    import torch


def _group_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values[mask]`; a zero that keeps the graph when the group is empty."""
    if bool(mask.any()):
        return values[mask].mean()
    return values.sum() * 0.0


def dro_loss(
    err: torch.Tensor, stable: torch.Tensor, *, ascent_bound: float | None = None,
    ascent_weight: float = 1.0, ref: torch.Tensor | None = None,
    ascent_margin: float | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """DRO loss from per-sample errors `err [B]` and stability labels `stable bool [B]`.

    `ref [B]` (the base model's errors, no gradient) is needed with `ascent_margin`. Returns
    the scalar loss and stats: err_stable, err_unstable (group means, nan when the group is
    empty), n_stable, n_unstable, ascent_clipped (fraction of unstable samples held by a bound
    or the margin, hence without gradient).
    """
    if err.dim() != 1 or stable.shape != err.shape:
        raise ValueError(
            f"dro_loss expects err [B] and stable [B]; got {tuple(err.shape)} and "
            f"{tuple(stable.shape)}"
        )
    if ascent_bound is not None and not ascent_bound > 0:
        raise ValueError(f"ascent_bound must be positive or None, got {ascent_bound}")
    if not ascent_weight >= 0:
        raise ValueError(f"ascent_weight must be >= 0, got {ascent_weight}")
    if ascent_margin is not None and (ref is None or ref.shape != err.shape):
        raise ValueError("ascent_margin needs the reference errors ref [B]")
    import torch

    stable = stable.to(device=err.device, dtype=torch.bool)
    unstable = ~stable
    ceiling = torch.full_like(err, float("inf"))
    if ascent_bound is not None:
        ceiling = ceiling.clamp(max=ascent_bound)
    if ascent_margin is not None:
        ceiling = torch.minimum(ceiling, ref.detach().to(err) + ascent_margin)
    # a sample at its ceiling is held (no gradient), ties included: torch.minimum would split
    # the gradient there, so ascent_margin=0 (err == ref at the start) would push at half speed
    held = err >= ceiling
    ascent = torch.where(held, ceiling, err)
    loss = 0.5 * _group_mean(err, stable) - 0.5 * ascent_weight * _group_mean(ascent, unstable)
    with torch.no_grad():
        n_s, n_u = int(stable.sum()), int(unstable.sum())
        clipped = float(held[unstable].float().mean()) if n_u else 0.0
        stats = {
            "err_stable": float(err[stable].mean()) if n_s else float("nan"),
            "err_unstable": float(err[unstable].mean()) if n_u else float("nan"),
            "n_stable": float(n_s),
            "n_unstable": float(n_u),
            "ascent_clipped": clipped,
        }
    return loss, stats


@dataclass(frozen=True)
class DRO(PairDraws):
    """DRO on half-stable batches, unpaired or (`paired_dro`) as same-prompt pairs.

    Paired rows share t, noise and condition dropout with `pair_noise="shared"` (drawn per row,
    the first half's used for both halves); with `"release"` they share t and dropout and draw
    their own noise, as the released code does; with `"independent"` each row draws its own t,
    noise and dropout. The base model's errors are read only with `ascent_margin`.
    """

    name = "dro"
    ascent_bound: float | None = None
    ascent_weight: float = 1.0
    ascent_margin: float | None = None

    @property
    def layout(self) -> str:  # type: ignore[override]
        return PAIRS if self.paired_dro else HALVES

    @property
    def needs_reference(self) -> bool:
        return self.ascent_margin is not None

    def caution(self) -> str | None:
        if self.ascent_weight > 0 and self.ascent_bound is None and self.ascent_margin is None:
            return ("DRO with no bound on its ascent (as released): the unstable samples' error, "
                    "and with it the stable ones' through the shared weights, can grow without "
                    "limit; set --ascent-bound (the demo's 0.8 is about twice dso-tiny's "
                    "starting error; with --guided-loss it is larger, 1.56 against 0.87 on its "
                    "own samples at guidance 3: read err_unstable in the log) or --ascent-margin")
        return None

    def loss(self, err: torch.Tensor, ref: torch.Tensor | None, batch: Batch
             ) -> tuple[torch.Tensor, dict[str, float]]:
        return dro_loss(err, batch.stable, ascent_bound=self.ascent_bound,
                        ascent_weight=self.ascent_weight, ref=ref,
                        ascent_margin=self.ascent_margin)
