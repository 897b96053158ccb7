"""Rectified-flow helpers and the Euler sampler on an exactly known velocity field."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dso.models.rectified_flow import add_noise, per_sample_error, sample_t, velocity_target
from dso.models.sampler import SIGMA_MIN, SamplerConfig, sample, time_grid


def test_sample_t_is_logit_normal_and_seeded() -> None:
    t = sample_t(20000, torch.Generator().manual_seed(0))
    assert t.shape == (20000,) and bool(((t > 0) & (t < 1)).all())
    logit = torch.log(t / (1 - t))
    assert abs(logit.mean().item() - 1.0) < 0.03 and abs(logit.std().item() - 1.0) < 0.03
    assert torch.equal(t, sample_t(20000, torch.Generator().manual_seed(0)))


def test_noise_path_and_target_are_consistent() -> None:
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 2, 4, generator=g), torch.randn(3, 2, 4, generator=g)
    assert torch.allclose(add_noise(x0, torch.zeros(3), eps), x0 + SIGMA_MIN * eps)
    assert torch.allclose(add_noise(x0, torch.ones(3), eps), eps)
    t, dt = torch.full((3,), 0.3), 1e-3
    slope = (add_noise(x0, t + dt, eps) - add_noise(x0, t - dt, eps)) / (2 * dt)
    assert torch.allclose(slope, velocity_target(x0, eps), atol=1e-3)


def test_per_sample_error() -> None:
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(4, 2, 3, generator=g), torch.randn(4, 2, 3, generator=g)
    t = torch.rand(4, generator=g)
    zero_flow = lambda x, tt, c: torch.zeros_like(x)  # noqa: E731
    err = per_sample_error(zero_flow, x0, None, t, eps)
    assert torch.allclose(err, velocity_target(x0, eps).pow(2).mean(dim=(1, 2)))
    seen = {}

    def spy(x, tt, c):
        seen["t"] = tt
        return velocity_target(x0, eps)

    assert torch.allclose(per_sample_error(spy, x0, None, t, eps), torch.zeros(4), atol=1e-12)
    assert torch.allclose(seen["t"], 1000 * t)
    with pytest.raises(ValueError, match="t must have shape"):
        per_sample_error(zero_flow, x0, None, t[:2], eps)


def test_time_grid_rescale() -> None:
    ts = time_grid(12, 3.0)
    assert ts[0] == 1 and ts[-1] == 0 and np.all(np.diff(ts) < 0)
    assert np.isclose(ts[6], 3 * 0.5 / (1 + 2 * 0.5))
    assert np.allclose(time_grid(4, 1.0), np.linspace(1, 0, 5))


def test_euler_is_exact_on_a_point_mass() -> None:
    """For data concentrated at c the true velocity is constant along paths: Euler lands on c."""
    c = torch.tensor([[0.3, -1.2, 2.0]])

    def flow(x, t1000, cond):
        t = (t1000 / 1000).reshape(-1, 1)
        eps = (x - (1 - t) * c) / (SIGMA_MIN + (1 - SIGMA_MIN) * t)
        return (1 - SIGMA_MIN) * eps - c

    noise = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    out = sample(flow, noise, torch.zeros(5, 1, 1), SamplerConfig(steps=4, guidance=0.0))
    assert torch.allclose(out, c.expand(5, 3), atol=1e-4)


def test_sampler_config_validation() -> None:
    with pytest.raises(ValueError, match="steps must be >= 1"):
        SamplerConfig(steps=0)
    with pytest.raises(ValueError, match="cfg_interval"):
        SamplerConfig(cfg_interval=(1.0, 0.5))
    assert SamplerConfig().override(cfg_interval=[0.2, 0.9]).cfg_interval == (0.2, 0.9)


def test_guided_error_fits_the_velocity_the_sampler_follows():

    def flow(x, t, cond):  # 2 with a condition, 0.5 without, whatever x and t
        has = (cond.abs().flatten(1).sum(dim=1) > 0).to(x.dtype).reshape(-1, 1, 1, 1)
        return torch.ones_like(x) * (0.5 + 1.5 * has)

    x0, eps = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    cond, t = torch.ones(2, 3, 4), torch.tensor([0.8, 0.2])  # inside / outside [0.5, 1]
    v = velocity_target(x0, eps)
    err = per_sample_error(flow, x0, cond, t, eps, guidance=3.0, interval=(0.5, 1.0))
    guided = (1 + 3.0) * 2.0 - 3.0 * 0.5  # 6.5 inside the interval, plain 2.0 outside
    assert err.tolist() == pytest.approx([float(((guided - v) ** 2).mean()),
                                          float(((2.0 - v) ** 2).mean())])
    plain = per_sample_error(flow, x0, cond, t, eps)
    assert plain.tolist() == pytest.approx([float(((2.0 - v) ** 2).mean())] * 2)
    assert add_noise(x0, t, eps).shape == x0.shape


def test_guided_error_follows_a_trellis2_sampler_config():
    """With the generator's SamplerConfig the fitted velocity is the one its sampler follows:
    TRELLIS.2's form w c + (1 - w) n and the x0 rescale (`guide`), inside its interval only."""
    from dso.models.sampler import guide

    def flow(x, t, cond):  # a velocity that depends on x and on the condition
        has = (cond.abs().flatten(1).sum(dim=1) > 0).to(x.dtype).reshape(-1, 1, 1, 1)
        return x * (1 + has) + 0.5 * has

    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(2, 1, 2, 2, generator=g), torch.randn(2, 1, 2, 2, generator=g)
    cond, t = torch.ones(2, 3, 4), torch.tensor([0.8, 0.3])  # inside / outside [0.6, 1]
    cfg = SamplerConfig(guidance=7.5, cfg_interval=(0.6, 1.0), guidance_form="trellis2",
                        guidance_rescale=0.7)
    x_t = add_noise(x0, t, eps)
    pos, neg = flow(x_t, t, cond), flow(x_t, t, torch.zeros_like(cond))
    want = torch.where(torch.tensor([True, False]).reshape(-1, 1, 1, 1),
                       guide(cfg, x_t, t, pos, neg), pos)
    expected = (want - velocity_target(x0, eps)).pow(2).flatten(1).mean(dim=1)
    assert torch.allclose(per_sample_error(flow, x0, cond, t, eps, cfg), expected)
    # w = 1 in TRELLIS.2's form is the plain conditional velocity
    plain = per_sample_error(flow, x0, cond, t, eps)
    assert torch.allclose(per_sample_error(flow, x0, cond, t, eps, cfg.override(guidance=1.0)),
                          plain)
