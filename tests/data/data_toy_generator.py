"""A small deterministic generator implementing the Generator contract, for the data tests.

It is a fixture, not a stand-in for the data room: latents come from `torch.Generator(seed)`
exactly as the contract says, and meshes are real trimesh solids: an upright box (stable) or a
strongly sheared prism whose centre of mass hangs beyond its base (unstable), or no mesh.
An image whose pixels are all 13 makes `generate` raise (a prompt the generator chokes on).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import trimesh

BAD_PIXEL = 13


@dataclass
class ToySampler:
    steps: int = 2
    guidance: float = 1.0


@dataclass
class ToySample:
    prompt_index: int
    sample_index: int
    seed: int
    latent: torch.Tensor
    occupancy: np.ndarray
    mesh: trimesh.Trimesh | None


def prism(shear: float, width: float = 0.3, height: float = 1.0) -> trimesh.Trimesh:
    """A box of the given width and height, its top shifted by `shear * height` along x."""
    box = trimesh.creation.box(extents=(width, width, height))
    v = box.vertices.copy()
    v[:, 0] += shear * (v[:, 2] + height / 2)
    return trimesh.Trimesh(v, box.faces, process=False)


class ToyGenerator:
    name = "toy"
    resolution = 8
    latent_shape = (2, 2, 2, 2)

    def __init__(self, delay: float = 0.0, scale: float = 1.0) -> None:
        self.delay = delay
        self.sampler = ToySampler()
        self.flow = torch.nn.Linear(3, 2)
        with torch.no_grad():
            self.flow.weight.copy_(torch.arange(6.0).reshape(2, 3) * scale)
            self.flow.bias.zero_()

    def condition(self, images) -> torch.Tensor:
        out = []
        for img in images:
            m = torch.tensor(np.asarray(img, dtype=np.float32).mean(axis=(0, 1)) / 255.0)
            out.append(torch.stack([m * (k + 1) for k in range(4)]))  # [4, 3]
        return torch.stack(out)

    def _one(self, img, i: int, j: int, seed: int) -> ToySample:
        g = torch.Generator().manual_seed(seed)
        latent = torch.randn(self.latent_shape, generator=g)
        occ = np.zeros((self.resolution,) * 3, dtype=bool)
        a, b = float(latent[0, 0, 0, 0]), float(latent[0, 0, 0, 1])
        if b > 1.3:
            mesh = None
        else:
            mesh = prism(0.0 if a > 0 else 1.5, height=0.8 + 0.1 * abs(b))
            occ[2:6, 2:6, 0:6] = True
        return ToySample(i, j, seed, latent, occ, mesh)

    def generate(self, images, *, n: int = 1, seed: int = 0, batch_size: int = 64,
                 progress: bool = False, **overrides) -> list[ToySample]:
        if self.delay:
            time.sleep(self.delay)
        out = []
        for i, img in enumerate(images):
            if np.all(np.asarray(img) == BAD_PIXEL):
                raise ValueError("cannot condition on this image")
            for j in range(n):
                out.append(self._one(img, i, j, seed + i * n + j))
        return out


def toy_images(count: int, size: int = 8) -> list[np.ndarray]:
    """Distinct small RGB images."""
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for _ in range(count)]


def toy_prompts(count: int, views: int = 2, bad: tuple[int, ...] = ()):
    """Prompts over `count // views` objects with `views` views each, in two families."""
    from dso.data.prompts import Prompt

    images = toy_images(count)
    for b in bad:
        images[b] = np.full_like(images[b], BAD_PIXEL)
    prompts = []
    for k, img in enumerate(images):
        obj = f"obj{k // views:03d}"
        prompts.append(Prompt(f"{obj}/v{k % views}", object_id=obj,
                              family="chair" if (k // views) % 2 else "lamp", split="train",
                              view=k % views, loader=lambda img=img: img))
    return prompts


class GridToyGenerator(ToyGenerator):
    """ToyGenerator whose meshes are their grids' own surfaces (`grid_to_mesh`), as dso-tiny's
    are: an upright block (stable), a staircase leaning past its base (falls), or nothing."""

    resolution = 16

    def _one(self, img, i: int, j: int, seed: int) -> ToySample:
        from dso.geometry import grid_to_mesh

        g = torch.Generator().manual_seed(seed)
        latent = torch.randn(self.latent_shape, generator=g)
        occ = np.zeros((self.resolution,) * 3, dtype=bool)
        a, b = float(latent[0, 0, 0, 0]), float(latent[0, 0, 0, 1])
        if b <= 1.3 and a > 0:
            occ[5:11, 5:11, 0:12] = True
        elif b <= 1.3:
            for z in range(12):
                occ[1 + z:4 + z, 6:10, z] = True
        return ToySample(i, j, seed, latent, occ, grid_to_mesh(occ) if occ.any() else None)
