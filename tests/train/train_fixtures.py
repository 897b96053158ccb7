"""A real tiny flow transformer (dso.models) and a toy labelled batch source for training tests.

The source yields the batch dicts documented for dso.data.sampling.BatchSource, deterministic in
(seed, rank, step). Stable and unstable latents come from two different patterns, so a model can
learn to tell them apart.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import torch

from dso.models.flow import SparseStructureFlowModel

C, R, L, DC = 2, 4, 4, 16


def tiny_flow(seed: int = 0) -> SparseStructureFlowModel:
    """A 2-block flow on [2, 4, 4, 4] latents; zero-initialised layers made random."""
    torch.manual_seed(seed)
    flow = SparseStructureFlowModel(resolution=R, in_channels=C, model_channels=32,
                                    cond_channels=DC, out_channels=C, num_blocks=2,
                                    num_heads=2, patch_size=1)
    with torch.no_grad():
        for block in flow.blocks:
            block.adaLN_modulation[-1].weight.normal_(0, 0.02)
        flow.out_layer.weight.normal_(0, 0.05)
    return flow


def tiny_generator(seed: int = 0) -> SimpleNamespace:
    """The two attributes of a Generator that training uses."""
    return SimpleNamespace(flow=tiny_flow(seed), lora_targets=("to_q", "to_kv", "to_out",
                                                               "to_qkv"))


class ToySource:
    """Prompts x (stable, unstable) latents; batches as dso.data's BatchSource documents."""

    def __init__(self, objective: str, batch_size: int, seed: int = 0, rank: int = 0,
                 prompts: int = 4, per_prompt: int = 2, delay: float = 0.0) -> None:
        self.objective, self.batch_size, self.seed, self.rank = objective, batch_size, seed, rank
        self.delay = delay
        g = torch.Generator().manual_seed(1234)
        self.cond = torch.randn(prompts, L, DC, generator=g)
        shape = (prompts, per_prompt, C, R, R, R)
        base = torch.randn(prompts, 1, C, R, R, R, generator=g)
        self.stable = base + 0.3 * torch.randn(shape, generator=g)
        self.unstable = -base + 0.3 * torch.randn(shape, generator=g)

    def _rows(self, rng: np.random.Generator, pool: torch.Tensor, n: int):
        p = rng.integers(0, pool.shape[0], n)
        k = rng.integers(0, pool.shape[1], n)
        return pool[p, k], p

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        """Deterministic in (seed, rank, step)."""
        if self.delay:
            time.sleep(self.delay)
        rng = np.random.default_rng([self.seed, self.rank, step])
        b = self.batch_size
        if self.objective == "dpo":
            p = rng.integers(0, self.stable.shape[0], b)
            kw, kl = rng.integers(0, self.stable.shape[1], (2, b))
            return {"x0_w": self.stable[p, kw], "x0_l": self.unstable[p, kl],
                    "cond": self.cond[p]}
        if self.objective == "sft":
            x, p = self._rows(rng, self.stable, b)
            return {"x0": x, "cond": self.cond[p], "stable": torch.ones(b, dtype=torch.bool)}
        xs, ps = self._rows(rng, self.stable, b // 2)
        xu, pu = self._rows(rng, self.unstable, b - b // 2)
        stable = torch.arange(b) < b // 2
        return {"x0": torch.cat([xs, xu]), "cond": self.cond[np.concatenate([ps, pu])],
                "stable": stable}

    def all_rows(self) -> dict[str, torch.Tensor]:
        """Every toy sample once: x0, cond, stable."""
        p, k = self.stable.shape[:2]
        cond = self.cond.repeat_interleave(k, 0)
        return {"x0": torch.cat([self.stable.flatten(0, 1), self.unstable.flatten(0, 1)]),
                "cond": torch.cat([cond, cond]),
                "stable": torch.arange(2 * p * k) < p * k}
