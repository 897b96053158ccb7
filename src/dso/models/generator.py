"""The one `Generator` interface every other room codes against (names -> generators:
`dso.models.registry`; this module imports no generator, so nothing imports in a circle).

images -> condition tokens -> latents (seeded Euler sampling with guidance) -> occupancy grids
-> watertight meshes. Sample j of image i gets seed `seed + i * n + j` and its noise comes from
`torch.Generator().manual_seed(that)`, so a sample does not depend on how samples are batched.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import trimesh
from torch import nn
from tqdm.auto import tqdm

from dso.interrupts import reraise_if_interrupted
from dso.models.sampler import SamplerConfig

log = logging.getLogger(__name__)


@dataclass
class GeneratedSample:
    """One generated object."""

    prompt_index: int  # index into the images passed to generate()
    sample_index: int  # 0..n-1 for that image
    seed: int  # reproduces this sample alone
    latent: torch.Tensor  # [C, r, r, r] float32 on CPU (the sampled x0)
    occupancy: np.ndarray  # bool [R, R, R], indexed [x, y, z], z up
    mesh: trimesh.Trimesh | None  # watertight mesh in the unit cube; None when the grid is empty


def _mesh_or_none(occ: np.ndarray, where: str) -> trimesh.Trimesh | None:
    from dso.geometry import grid_to_mesh

    try:
        return grid_to_mesh(occ)
    except Exception as err:  # one bad grid never stops a batch
        reraise_if_interrupted()
        log.warning("%s: mesh extraction failed: %s", where, err)
        return None


class Generator(ABC):
    """An image-conditioned stage-1 generator (see module docstring for the seeding rule)."""

    name: str
    resolution: int
    latent_shape: tuple[int, int, int, int]
    flow: nn.Module  # flow(x_t, 1000 * t, cond) -> velocity, same shape as x_t
    sampler: SamplerConfig

    @abstractmethod
    def condition(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """uint8 H x W x 3 (RGB) or x 4 (RGBA) images -> condition tokens [B, L, Dc] (no grad)."""

    @abstractmethod
    def sample_latents(
        self, cond: torch.Tensor, seeds: Sequence[int], **sampler_overrides: object
    ) -> torch.Tensor:
        """One latent [C, r, r, r] per (cond row, seed) -> [B, C, r, r, r] float32 on CPU."""

    @abstractmethod
    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """Latents [B, C, r, r, r] -> occupancy bool [B, R, R, R]."""

    @abstractmethod
    def encode(self, occupancy: np.ndarray) -> torch.Tensor:
        """Occupancy bool [B, R, R, R] (or [R, R, R]) -> posterior-mean latents [B, C, r, r, r]."""

    def generate(
        self,
        images: Sequence[np.ndarray],
        *,
        n: int = 1,
        seed: int = 0,
        batch_size: int = 64,
        progress: bool = False,
        **sampler_overrides: object,
    ) -> list[GeneratedSample]:
        """`n` samples per image, ordered by (image, sample); meshes None for empty grids."""
        if n < 1 or batch_size < 1:
            raise ValueError(f"n and batch_size must be >= 1, got n={n}, batch_size={batch_size}")
        self.sampler.override(**sampler_overrides)  # validate names before any work
        jobs = [(i, j, seed + i * n + j) for i in range(len(images)) for j in range(n)]
        out: list[GeneratedSample] = []
        bar = tqdm(total=len(jobs), desc=f"generate {self.name}", disable=not progress)
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start : start + batch_size]
            prompts = sorted({i for i, _, _ in chunk})
            cond = self.condition([images[i] for i in prompts])
            rows = torch.tensor([prompts.index(i) for i, _, _ in chunk])
            latents = self.sample_latents(
                cond[rows.to(cond.device)], [s for _, _, s in chunk], **sampler_overrides
            )
            grids = self.decode(latents)
            for (i, j, s), lat, occ in zip(chunk, latents, grids, strict=True):
                mesh = _mesh_or_none(occ, f"image {i} sample {j}")
                out.append(GeneratedSample(i, j, s, lat.clone(), occ, mesh))
            bar.update(len(chunk))
        bar.close()
        return out
