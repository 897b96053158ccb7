"""What a family is, and small helpers for sampling JSON-safe parameters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import trimesh

Params = dict[str, Any]


@dataclass(frozen=True)
class Family:
    """A parametric object family.

    `sample(rng)` draws JSON-safe parameters; `build(params)` returns the closed primitives
    (any units, z up, standing on its lowest point) whose union is the object. `held_out`
    families only ever appear in the in-the-wild split.
    """

    name: str
    sample: Callable[[np.random.Generator], Params]
    build: Callable[[Params], list[trimesh.Trimesh]]
    color: tuple[float, float, float]
    held_out: bool = False
    description: str = ""


def uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A float in [lo, hi), rounded to 4 decimals so it survives JSON exactly."""
    return round(float(rng.uniform(lo, hi)), 4)


def choice(rng: np.random.Generator, options: list[Any] | tuple[Any, ...],
           p: list[float] | None = None) -> Any:
    """One of `options` (plain Python value)."""
    index = int(rng.choice(len(options), p=p))
    return options[index]


def jitter_color(rng: np.random.Generator, base: tuple[float, float, float],
                 amount: float = 0.07) -> list[float]:
    """`base` RGB with a small random shift per channel, clipped to a readable range."""
    rgb = np.clip(np.asarray(base) + rng.uniform(-amount, amount, 3), 0.25, 0.95)
    return [round(float(c), 3) for c in rgb]


def polar(radius: float, angle_deg: float, z: float = 0.0) -> np.ndarray:
    """The point at `radius` and `angle_deg` about z, at height `z`."""
    a = np.radians(angle_deg)
    return np.array([radius * np.cos(a), radius * np.sin(a), z])


def tilt(vector: np.ndarray, forward_deg: float, side_deg: float) -> np.ndarray:
    """`vector` pitched forward (towards +x) and rolled sideways (towards +y)."""
    f, s = np.radians(forward_deg), np.radians(side_deg)
    pitch = np.array([[np.cos(f), 0, np.sin(f)], [0, 1, 0], [-np.sin(f), 0, np.cos(f)]])
    roll = np.array([[1, 0, 0], [0, np.cos(s), np.sin(s)], [0, -np.sin(s), np.cos(s)]])
    return roll @ pitch @ np.asarray(vector, dtype=float)
