"""Mushrooms and trees: heavy caps and crowns on thin, sometimes leaning stems."""

from __future__ import annotations

import numpy as np

from dso.world.families.base import Family, Params, choice, jitter_color, polar, tilt, uniform
from dso.world.families.parts import capsule, frustum, lathe, sphere


def sample_mushroom(rng: np.random.Generator) -> Params:
    """One to three mushrooms: stem height, thickness, lean and cap shape."""
    count = choice(rng, [1, 1, 2, 3])
    return {
        "count": count,
        "stems": [
            {
                "h": uniform(rng, 0.25, 0.7),
                "r": uniform(rng, 0.03, 0.09),
                "lean_deg": uniform(rng, -20.0, 20.0),
                "dir_deg": uniform(rng, 0.0, 360.0),
                "cap_r": uniform(rng, 0.12, 0.32),
                "cap_h": uniform(rng, 0.06, 0.2),
                "at": [uniform(rng, -0.15, 0.15), uniform(rng, -0.15, 0.15)] if i else [0.0, 0.0],
            }
            for i in range(count)
        ],
        "base": count > 1 or bool(rng.uniform() < 0.3),
        "color": jitter_color(rng, (0.82, 0.45, 0.35)),
    }


def build_mushroom(p: Params) -> list:
    """Stems (wider at the foot) with domed caps, on a shared mossy disc when clustered."""
    parts = []
    base_t = 0.04 if p["base"] else 0.0
    if p["base"]:
        parts.append(lathe([0.28, 0.22], [0.0, base_t]))
    for s in p["stems"]:
        foot = np.array([s["at"][0], s["at"][1], base_t * 0.5 - 0.03])  # sunk, cut flat
        d = np.radians(s["dir_deg"])
        axis = tilt([0, 0, 1], s["lean_deg"] * np.cos(d), s["lean_deg"] * np.sin(d))
        top = foot + axis * s["h"]
        parts.append(frustum(foot, top, s["r"] * 1.3, s["r"]))
        radii = s["cap_r"] * np.array([0.35, 1.0, 0.95, 0.75, 0.4, 0.08])
        heights = top[2] - 0.02 + s["cap_h"] * np.array([0.0, 0.15, 0.45, 0.75, 0.95, 1.0])
        parts.append(lathe(radii, heights, at=(top[0], top[1], 0.0)))
    return parts


def sample_tree(rng: np.random.Generator) -> Params:
    """Trunk height, thickness and lean; crown style; root flare or a pot."""
    return {
        "trunk_h": uniform(rng, 0.35, 0.75),
        "trunk_r": uniform(rng, 0.025, 0.07),
        "lean_deg": uniform(rng, -15.0, 15.0),
        "crown": choice(rng, ["round", "pine", "cluster"]),
        "crown_r": uniform(rng, 0.15, 0.35),
        "blobs": [[uniform(rng, -1, 1), uniform(rng, -1, 1), uniform(rng, -0.5, 0.8)]
                  for _ in range(4)],
        "foot": choice(rng, ["roots", "pot", "disc"]),
        "foot_r": uniform(rng, 0.1, 0.25),
        "color": jitter_color(rng, (0.40, 0.62, 0.32)),
    }


def build_tree(p: Params) -> list:
    """Trunk on a root flare, pot or disc, crown of spheres or stacked cones."""
    foot_h = {"roots": 0.0, "pot": 0.2, "disc": 0.04}[p["foot"]]
    parts = []
    if p["foot"] == "pot":
        parts.append(lathe([p["foot_r"] * 0.7, p["foot_r"], p["foot_r"]], [0.0, 0.17, 0.2]))
    elif p["foot"] == "disc":
        parts.append(lathe([p["foot_r"], p["foot_r"] * 0.9], [0.0, 0.04]))
    else:
        for k in range(4):
            parts.append(capsule(polar(p["trunk_r"] * 2.5, k * 90.0 + 20.0, p["trunk_r"] * 0.3),
                                 (0, 0, p["trunk_r"] * 2.5), p["trunk_r"] * 0.6))
    base = np.array([0.0, 0.0, foot_h * 0.9 - 0.03])  # sunk into the ground, cut flat
    top = base + tilt([0, 0, 1], p["lean_deg"], 0.0) * p["trunk_h"]
    parts.append(frustum(base, top, p["trunk_r"] * 1.4, p["trunk_r"]))
    r = p["crown_r"]
    if p["crown"] == "pine":
        for k in range(3):
            z0 = top[2] - r * 0.8 + k * r * 0.55
            parts.append(lathe([r * (1.0 - 0.25 * k), r * 0.05], [z0, z0 + r * 0.9],
                               at=(top[0], top[1], 0.0)))
    elif p["crown"] == "round":
        parts.append(sphere(top + [0, 0, r * 0.6], r, scale=(1.0, 1.0, 0.85)))
    else:  # a core blob on the trunk reaches every other blob: the crown is one piece
        centre = top + [0, 0, r * 0.5]
        parts.append(sphere(centre, r * 0.6))
        for b in p["blobs"]:
            parts.append(sphere(centre + np.array(b) * r * 0.6, r * 0.6))
    return parts


MUSHROOM = Family("mushroom", sample_mushroom, build_mushroom, color=(0.82, 0.45, 0.35),
                  description="one to three mushrooms with heavy caps on leaning stems")
TREE = Family("tree", sample_tree, build_tree, color=(0.40, 0.62, 0.32),
              description="trees with round, pine or clustered crowns on roots, pots or discs")
