"""Rectified-flow training helpers (docs/formats.md §Sampler): noising, targets, per-sample errors.

`x_t = (1 - t) x0 + (sigma_min + (1 - sigma_min) t) eps`, target `v = (1 - sigma_min) eps - x0`,
`t = sigmoid(N(1, 1))` (logit-normal), model input `1000 t`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from dso.models.sampler import SIGMA_MIN, SamplerConfig, guide, unguided


def _expand(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.to(like.dtype).reshape(-1, *[1] * (like.dim() - 1))


def sample_t(
    batch: int,
    generator: torch.Generator | None = None,
    mean: float = 1.0,
    std: float = 1.0,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """[batch] timesteps t = sigmoid(N(mean, std))."""
    z = torch.randn(batch, generator=generator, device=device)
    return torch.sigmoid(z * std + mean)


def add_noise(
    x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, sigma_min: float = SIGMA_MIN
) -> torch.Tensor:
    """x_t on the straight path from data x0 (t = 0) to noise eps (t = 1)."""
    t = _expand(t, x0)
    return (1 - t) * x0 + (sigma_min + (1 - sigma_min) * t) * eps


def velocity_target(
    x0: torch.Tensor, eps: torch.Tensor, sigma_min: float = SIGMA_MIN
) -> torch.Tensor:
    """The regression target v = (1 - sigma_min) eps - x0."""
    return (1 - sigma_min) * eps - x0


def per_sample_error(
    flow: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    cond: torch.Tensor,
    t: torch.Tensor,
    eps: torch.Tensor,
    guidance: float | SamplerConfig = 0.0,
    interval: tuple[float, float] = (0.0, 1.0),
) -> torch.Tensor:
    """[B] mean over non-batch elements of (v_pred - v)^2, v_pred = flow(x_t, 1000 t, cond).

    With `guidance` w > 0 the prediction is the guided velocity the sampler follows,
    `(1 + w) flow(cond) - w flow(0)`, for the samples whose t lies in `interval` (the sampler's
    cfg_interval): fitting it makes the model's guided sampler, not its plain conditional
    velocity, match the data (what samples drawn with that guidance are). A `SamplerConfig`
    instead of w brings its own weight, interval, guidance form and x0 rescale (`guide`).
    """
    if x0.shape != eps.shape:
        raise ValueError(f"x0 {tuple(x0.shape)} and eps {tuple(eps.shape)} differ in shape")
    if t.shape != (x0.shape[0],):
        raise ValueError(f"t must have shape [{x0.shape[0]}], got {tuple(t.shape)}")
    x_t = add_noise(x0, t, eps)
    if isinstance(guidance, SamplerConfig):
        cfg = guidance
    else:
        cfg = SamplerConfig(guidance=max(float(guidance), 0.0), cfg_interval=tuple(interval))
    if not unguided(cfg):
        lo, hi = cfg.cfg_interval
        both = flow(torch.cat([x_t, x_t]), torch.cat([1000 * t, 1000 * t]),
                    torch.cat([cond, torch.zeros_like(cond)]))
        pos, neg = both.chunk(2)
        inside = _expand((t >= lo) & (t <= hi), x0).bool()
        pred = torch.where(inside, guide(cfg, x_t, t, pos, neg), pos)
    else:
        pred = flow(x_t, 1000 * t, cond)
    return (pred - velocity_target(x0, eps)).pow(2).flatten(1).mean(dim=1)
