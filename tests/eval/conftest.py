"""A small real Generator (brightness picks the shape) and a duck-typed world for evaluate().

Prompt brightness decides the output: bright -> a wide block (stands), mid -> a post with a
heavy overhanging slab on top (topples), dark -> an empty grid (no output).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from dso.models.generator import Generator
from dso.models.sampler import SamplerConfig

R = 32
BRIGHT, MID, DARK = 220, 120, 10


def block_grid() -> np.ndarray:
    occ = np.zeros((R, R, R), bool)
    occ[8:24, 8:24, 0:20] = True
    return occ


def toppling_grid() -> np.ndarray:
    occ = np.zeros((R, R, R), bool)
    occ[2:6, 14:18, 0:24] = True  # thin post at one side
    occ[2:30, 6:26, 24:30] = True  # heavy slab reaching far past the post
    return occ


class ShapeGenerator(Generator):
    """Deterministic toy generator following the real `Generator.generate` path."""

    name = "toy-shapes"
    resolution = R
    latent_shape = (1, 2, 2, 2)

    def __init__(self) -> None:
        self.flow = torch.nn.Identity()
        self.sampler = SamplerConfig()

    def condition(self, images):
        return torch.tensor([[[float(np.mean(im)) / 255.0]] for im in images])

    def sample_latents(self, cond, seeds, **_):
        noise = [torch.randn(self.latent_shape, generator=torch.Generator().manual_seed(s))
                 for s in seeds]
        return cond.reshape(-1, 1, 1, 1, 1) + 0.01 * torch.stack(noise)

    def decode(self, latents):
        out = np.zeros((len(latents), R, R, R), bool)
        for i, value in enumerate(latents.mean(dim=(1, 2, 3, 4)).tolist()):
            if value > 0.6:
                out[i] = block_grid()
            elif value > 0.2:
                out[i] = toppling_grid()
        return out

    def encode(self, occupancy):
        raise NotImplementedError


@dataclass
class ToyObject:
    id: str
    family: str
    split: str
    brightness: int
    n_views: int = 2
    has_gt: bool = True

    def images(self):
        return [np.full((32, 32, 3), self.brightness + v, np.uint8) for v in range(self.n_views)]

    def mesh(self):
        if not self.has_gt:
            return None
        box = trimesh.creation.box((0.5, 0.5, 0.625))
        box.apply_translation([0, 0, -0.5 + 0.3125])
        return box


class ToyWorld:
    """What `evaluate` reads of a `dso.world.World`: its objects, root and split fingerprint."""

    root = Path("toy-world")

    def __init__(self, objects):
        self._objects = list(objects)

    def __iter__(self):
        return iter(self._objects)

    def objects(self, split):
        return [o for o in self._objects if o.split == split]

    def fingerprint(self, split):
        return ",".join(o.id for o in self.objects(split))


@pytest.fixture
def toy_world():
    return ToyWorld([
        ToyObject("b0", "block", "eval", BRIGHT), ToyObject("b1", "block", "eval", BRIGHT - 20),
        ToyObject("t0", "topple", "eval", MID), ToyObject("v0", "void", "eval", DARK),
        ToyObject("w0", "block", "wild", BRIGHT),
    ])


@pytest.fixture
def toy_generator():
    return ShapeGenerator()
