"""Shapes made of boxes whose stability is known by hand (helper for the oracle tests).

A shape is a list of boxes (centre xyz, size xyz) that touch but do not overlap, so the volume
of the union is the sum of the boxes' volumes and the centre of mass is their volume-weighted
mean. Every shape here stands on boxes whose footprints span an axis-aligned rectangle (the
support polygon), so the toppling angle is atan(distance to the nearest rectangle side / COM
height) — computed here from first principles, independently of dso.physics.analytic.
"""

from __future__ import annotations

import math

import numpy as np
import trimesh

Box = tuple[tuple[float, float, float], tuple[float, float, float]]


def mesh_of(boxes: list[Box]) -> trimesh.Trimesh:
    """The boxes as one closed, outward-oriented triangle mesh (not merged)."""
    parts = []
    for centre, size in boxes:
        part = trimesh.creation.box(extents=size)
        part.apply_translation(centre)
        parts.append(part)
    return trimesh.util.concatenate(parts)


def com_of(boxes: list[Box]) -> np.ndarray:
    """Centre of mass at uniform density."""
    volumes = np.array([np.prod(size) for _, size in boxes])
    centres = np.array([centre for centre, _ in boxes])
    return (volumes[:, None] * centres).sum(axis=0) / volumes.sum()


def topple_deg(boxes: list[Box]) -> float:
    """Signed toppling angle at rest (> 0 stable, < 0 the COM is outside the support)."""
    bottoms = [c[2] - s[2] / 2 for c, s in boxes]
    ground = min(bottoms)
    feet = [(c, s) for (c, s), b in zip(boxes, bottoms, strict=True) if abs(b - ground) < 1e-9]
    x0 = min(c[0] - s[0] / 2 for c, s in feet)
    x1 = max(c[0] + s[0] / 2 for c, s in feet)
    y0 = min(c[1] - s[1] / 2 for c, s in feet)
    y1 = max(c[1] + s[1] / 2 for c, s in feet)
    com = com_of(boxes)
    nearest = min(com[0] - x0, x1 - com[0], com[1] - y0, y1 - com[1])
    return math.degrees(math.atan2(nearest, com[2] - ground))


def table(top_overhang: float = 0.0, leg: float = 0.6) -> list[Box]:
    """A slab on four legs; `top_overhang` lengthens the top along +x past the legs (every leg
    stays under the top, so the table is one piece)."""
    legs = [((x, y, leg / 2), (0.08, 0.08, leg)) for x in (-0.4, 0.4) for y in (-0.25, 0.25)]
    length = 0.9 + top_overhang
    return legs + [((-0.45 + length / 2, 0.0, leg + 0.04), (length, 0.6, 0.08))]


def cantilever(arm: float, foot: float = 0.3) -> list[Box]:
    """A foot, a column on its left end, and an arm of length `arm` reaching out along +x."""
    column_x = -foot / 2 + 0.05
    return [
        ((0.0, 0.0, 0.05), (foot, 0.3, 0.1)),
        ((column_x, 0.0, 0.5), (0.1, 0.1, 0.8)),
        ((column_x + 0.05 + arm / 2, 0.0, 0.85), (arm, 0.1, 0.1)),
    ]


def t_shape(bar_offset: float, bar: float = 0.9) -> list[Box]:
    """A T: a foot, a stem, and a heavy crossbar centred `bar_offset` from the stem along +x."""
    return [
        ((0.0, 0.0, 0.025), (0.3, 0.3, 0.05)),
        ((0.0, 0.0, 0.45), (0.08, 0.08, 0.8)),
        ((bar_offset, 0.0, 0.9), (bar, 0.15, 0.1)),
    ]


def biped(lean: float) -> list[Box]:
    """Two feet, two legs, a torso and a head; the torso reaches `lean` further along +x and
    the head sits over its far end (the torso stays on the legs: one piece)."""
    feet = [((0.05, y, 0.025), (0.3, 0.12, 0.05)) for y in (-0.12, 0.12)]
    legs = [((0.0, y, 0.3), (0.08, 0.08, 0.5)) for y in (-0.12, 0.12)]
    torso = 0.2 + lean
    upper = [((-0.1 + torso / 2, 0.0, 0.75), (torso, 0.36, 0.4)),
             ((lean * 1.3, 0.0, 1.05), (0.16, 0.16, 0.2))]
    return feet + legs + upper


def hunched_biped(lean: float, plate: float = 0.02) -> list[Box]:
    """Feet and legs, and a torso and head held out `lean` along +x by a thin shoulder plate
    on top of the legs (a deep concavity under the torso)."""
    feet = [((0.05, y, 0.025), (0.3, 0.12, 0.05)) for y in (-0.12, 0.12)]
    legs = [((0.0, y, 0.3), (0.08, 0.08, 0.5)) for y in (-0.12, 0.12)]
    upper = [((lean, 0.0, 0.75), (0.2, 0.36, 0.4)), ((lean * 1.3, 0.0, 1.05), (0.16, 0.16, 0.2))]
    width = lean - 0.06
    shoulders = ((-0.04 + width / 2, 0.0, 0.55 + plate / 2), (width, 0.36, plate))
    return feet + legs + upper + [shoulders]


def leaning_stack(step: float, blocks: int = 5) -> list[Box]:
    """Equal blocks stacked with each one shifted `step` along +x from the one below."""
    return [((i * step, 0.0, 0.1 + 0.2 * i), (0.4, 0.3, 0.2)) for i in range(blocks)]
