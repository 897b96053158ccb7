"""Rectified-flow Euler sampler with classifier-free guidance interval (docs/formats.md §Sampler).

t runs from 1 (noise) to 0 (data) on `linspace(1, 0, steps + 1)` warped by
`t' = s t / (1 + (s - 1) t)`; the model receives `1000 t`. Inside `cfg_interval` the velocity is
the guided mix of v(cond) and v(neg_cond) (`neg_cond = 0`), outside it `v(cond)` alone. Two
guidance forms, one sampler: `"trellis"` mixes `(1 + w) v_cond - w v_neg`, `"trellis2"` mixes
`w v_cond + (1 - w) v_neg` and may rescale the x0 prediction (`guidance_rescale`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import numpy as np
import torch

SIGMA_MIN = 1e-5
GUIDANCE_FORMS = ("trellis", "trellis2")

FlowFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SamplerConfig:
    """Sampling settings (defaults: the paper's stage-1 evaluation settings)."""

    steps: int = 12
    guidance: float = 7.5
    cfg_interval: tuple[float, float] = (0.5, 1.0)
    rescale_t: float = 3.0
    sigma_min: float = SIGMA_MIN
    guidance_form: str = "trellis"  # "trellis": (1 + w) c - w n; "trellis2": w c + (1 - w) n
    guidance_rescale: float = 0.0  # phi of the x0 std rescale inside the interval (TRELLIS.2)

    def __post_init__(self) -> None:
        if self.guidance_form not in GUIDANCE_FORMS:
            raise ValueError(f"guidance_form must be one of {GUIDANCE_FORMS}, "
                             f"got {self.guidance_form!r}")
        if not 0 <= self.guidance_rescale <= 1:
            raise ValueError(f"guidance_rescale must be in [0, 1], got {self.guidance_rescale}")
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


def unguided(cfg: SamplerConfig) -> bool:
    """Whether the guidance weight leaves v(cond) unchanged (w = 0, or w = 1 for trellis2)."""
    return cfg.guidance == (1.0 if cfg.guidance_form == "trellis2" else 0.0)


def guide(
    cfg: SamplerConfig, x: torch.Tensor, t: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
) -> torch.Tensor:
    """The guided velocity from v(cond) `pos` and v(neg_cond) `neg` at x, t [B] (not x1000).

    With `guidance_rescale` phi > 0 the x0 prediction of the mix is rescaled towards the std
    (per sample, unbiased) of the conditional one's: `x0 = phi x0_cfg std(x0_pos)/std(x0_cfg)
    + (1 - phi) x0_cfg`, and the velocity recomputed from it.
    """
    w = cfg.guidance
    v = (1 + w) * pos - w * neg if cfg.guidance_form == "trellis" else w * pos + (1 - w) * neg
    if cfg.guidance_rescale <= 0:
        return v
    s = cfg.sigma_min
    a = (s + (1 - s) * t).to(x.dtype).reshape(-1, *[1] * (x.dim() - 1))
    x0_pos, x0_cfg = (1 - s) * x - a * pos, (1 - s) * x - a * v
    ratio = _std(x0_pos) / _std(x0_cfg)
    phi = cfg.guidance_rescale
    x0 = phi * x0_cfg * ratio + (1 - phi) * x0_cfg
    return ((1 - s) * x - x0) / a


def _std(x: torch.Tensor) -> torch.Tensor:
    """Per-sample unbiased std over the non-batch dimensions, broadcastable to x."""
    return x.flatten(1).std(dim=1).reshape(-1, *[1] * (x.dim() - 1))


def guided_velocity(
    flow: FlowFn, x: torch.Tensor, t: float, cond: torch.Tensor, cfg: SamplerConfig
) -> torch.Tensor:
    """Velocity at scalar time t, with guidance when t lies in the interval."""
    t_in = torch.full((x.shape[0],), 1000 * t, dtype=torch.float32, device=x.device)
    lo, hi = cfg.cfg_interval
    if unguided(cfg) or not lo <= t <= hi:
        return flow(x, t_in, cond)
    # one batched call for conditional and unconditional predictions
    both = flow(
        torch.cat([x, x]), torch.cat([t_in, t_in]), torch.cat([cond, torch.zeros_like(cond)])
    )
    pos, neg = both.chunk(2)
    return guide(cfg, x, t_in / 1000, pos, neg)


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
