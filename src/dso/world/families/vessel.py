"""Bottles and vases: solids of revolution with narrow feet, wide bellies and handles."""

from __future__ import annotations

import numpy as np

from dso.world.families.base import Family, Params, choice, jitter_color, uniform
from dso.world.families.parts import lathe, torus


def sample_bottle(rng: np.random.Generator) -> Params:
    """Body, shoulder and neck proportions; a handle for jugs."""
    return {
        "kind": choice(rng, ["wine", "flask", "jug"]),
        "height": uniform(rng, 0.6, 1.0),
        "body_r": uniform(rng, 0.1, 0.22),
        "foot": uniform(rng, 0.6, 1.0),
        "shoulder": uniform(rng, 0.45, 0.7),
        "neck_r": uniform(rng, 0.3, 0.5),
        "tilt_deg": uniform(rng, 0.0, 6.0),
        "color": jitter_color(rng, (0.35, 0.58, 0.50)),
    }


def build_bottle(p: Params) -> list:
    """A bottle profile; jugs get a side handle, and the whole may stand slightly askew."""
    h, r = p["height"], p["body_r"]
    s, n = p["shoulder"] * h, p["neck_r"] * r
    radii = [r * p["foot"], r, r, (r + n) / 2, n, n, n * 1.25]
    heights = [0.0, 0.06 * h, s, s + 0.1 * h, s + 0.18 * h, h - 0.04, h]
    parts = [lathe(radii, heights)]
    if p["kind"] == "flask":
        parts = [lathe([r * p["foot"], r * 1.1, r * 0.9, n, n * 1.2],
                       [0.0, 0.35 * s, s, h - 0.05, h])]
    if p["kind"] == "jug":
        parts.append(torus((r + s * 0.08, 0.0, s * 0.7), s * 0.25, max(r * 0.12, 0.018),
                           axis=(0, 1, 0)))
    return parts


def sample_vase(rng: np.random.Generator) -> Params:
    """A wavy profile over a narrow or wide foot, optional handles."""
    return {
        "height": uniform(rng, 0.5, 1.0),
        "foot_r": uniform(rng, 0.05, 0.16),
        "belly_r": uniform(rng, 0.12, 0.3),
        "belly_at": uniform(rng, 0.2, 0.75),
        "mouth_r": uniform(rng, 0.06, 0.25),
        "waist": uniform(rng, 0.4, 1.0),
        "handles": choice(rng, [0, 0, 1, 2]),
        "color": jitter_color(rng, (0.55, 0.55, 0.78)),
    }


def build_vase(p: Params) -> list:
    """Smooth profile through foot, belly, waist and mouth; ring handles on the sides."""
    h = p["height"]
    t = np.linspace(0.0, 1.0, 9)
    keys_t = [0.0, 0.04, p["belly_at"], (p["belly_at"] + 1.0) / 2.0, 1.0]
    waist_r = max(p["mouth_r"], p["belly_r"]) * p["waist"] * 0.8
    keys_r = [p["foot_r"], p["foot_r"] * 0.8, p["belly_r"], max(waist_r, 0.03), p["mouth_r"]]
    radii = np.maximum(np.interp(t, keys_t, keys_r), 0.02)
    parts = [lathe(radii, t * h)]
    for k in range(p["handles"]):
        side = 1.0 if k == 0 else -1.0
        z = h * (p["belly_at"] + 1.0) / 2.0
        parts.append(torus((side * (max(waist_r, 0.03) + h * 0.05), 0.0, z), h * 0.12, 0.02,
                           axis=(0, 1, 0)))
    return parts


BOTTLE = Family("bottle", sample_bottle, build_bottle, color=(0.35, 0.58, 0.50),
                description="wine bottles, flasks and jugs with handles")
VASE = Family("vase", sample_vase, build_vase, color=(0.55, 0.55, 0.78),
              description="vases with narrow feet, wide bellies and ring handles")
