"""Rectified-flow Euler sampler with classifier-free guidance interval (docs/formats.md §Sampler).

t runs from 1 (noise) to 0 (data) on `linspace(1, 0, steps + 1)` warped by
`t' = s t / (1 + (s - 1) t)`; the model receives `1000 t`. Inside `cfg_interval` the velocity is
`(1 + w) v(cond) - w v(neg_cond)` with `neg_cond = 0`; outside it `v(cond)` alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import numpy as np
import torch

SIGMA_MIN = 1e-5

FlowFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SamplerConfig:
    """Sampling settings (defaults: the paper's stage-1 evaluation settings)."""

    steps: int = 12
    guidance: float = 7.5
    cfg_interval: tuple[float, float] = (0.5, 1.0)
    rescale_t: float = 3.0
    sigma_min: float = SIGMA_MIN

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.rescale_t <= 0:
            raise ValueError(f"rescale_t must be > 0, got {self.rescale_t}")
        lo, hi = self.cfg_interval
        if lo > hi:
            raise ValueError(f"cfg_interval must be (low, high), got {self.cfg_interval}")

    def override(self, **kwargs: object) -> SamplerConfig:
        """A copy with some fields replaced; unknown names raise a clear error."""
        names = {f.name for f in fields(self)}
        unknown = set(kwargs) - names
        if unknown:
            raise TypeError(f"unknown sampler settings {sorted(unknown)}; known: {sorted(names)}")
        if "cfg_interval" in kwargs:
            kwargs["cfg_interval"] = tuple(kwargs["cfg_interval"])  # type: ignore[arg-type]
        return replace(self, **kwargs)  # type: ignore[arg-type]


def time_grid(steps: int, rescale_t: float) -> np.ndarray:
    """The float64 time grid of `steps + 1` points from 1 to 0."""
    t = np.linspace(1, 0, steps + 1)
    return rescale_t * t / (1 + (rescale_t - 1) * t)


def guided_velocity(
    flow: FlowFn, x: torch.Tensor, t: float, cond: torch.Tensor, cfg: SamplerConfig
) -> torch.Tensor:
    """Velocity at scalar time t, with guidance when t lies in the interval."""
    t_in = torch.full((x.shape[0],), 1000 * t, dtype=torch.float32, device=x.device)
    lo, hi = cfg.cfg_interval
    if cfg.guidance == 0 or not lo <= t <= hi:
        return flow(x, t_in, cond)
    # one batched call for conditional and unconditional predictions
    both = flow(
        torch.cat([x, x]), torch.cat([t_in, t_in]), torch.cat([cond, torch.zeros_like(cond)])
    )
    pos, neg = both.chunk(2)
    return (1 + cfg.guidance) * pos - cfg.guidance * neg


@torch.no_grad()
def sample(
    flow: FlowFn,
    noise: torch.Tensor,
    cond: torch.Tensor,
    cfg: SamplerConfig | None = None,
    return_trajectory: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
    """Integrate from `noise` (t = 1) to data (t = 0) with Euler steps."""
    cfg = cfg or SamplerConfig()
    x = noise
    traj = [x]
    ts = time_grid(cfg.steps, cfg.rescale_t)
    for t, t_prev in zip(ts[:-1], ts[1:], strict=True):
        v = guided_velocity(flow, x, float(t), cond, cfg)
        x = x - float(t - t_prev) * v
        traj.append(x)
    return (x, traj) if return_trajectory else x
