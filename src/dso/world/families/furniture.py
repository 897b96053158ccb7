"""Tables, stools and chairs: flat tops on thin (sometimes splayed) legs."""

from __future__ import annotations

import numpy as np

from dso.world.families.base import Family, Params, choice, jitter_color, polar, uniform
from dso.world.families.parts import box, lathe, rod, slab, sphere

WOOD = (0.66, 0.50, 0.34)


def sample_table(rng: np.random.Generator) -> Params:
    """Top shape and size, leg style and thickness, an optional object on top."""
    return {
        "top": choice(rng, ["rect", "round"]),
        "width": uniform(rng, 0.6, 1.2),
        "depth": uniform(rng, 0.35, 0.8),
        "thick": uniform(rng, 0.025, 0.06),
        "height": uniform(rng, 0.35, 0.8),
        "legs": choice(rng, ["four", "three", "pedestal"], p=[0.6, 0.2, 0.2]),
        "leg_r": uniform(rng, 0.016, 0.04),
        "inset": uniform(rng, 0.02, 0.2),
        "splay_deg": uniform(rng, 0.0, 12.0),
        "foot_r": uniform(rng, 0.1, 0.3),
        "item": choice(rng, ["none", "ball", "vase", "box"], p=[0.55, 0.15, 0.15, 0.15]),
        "item_at": [uniform(rng, -0.45, 0.45), uniform(rng, -0.45, 0.45)],
        "item_size": uniform(rng, 0.06, 0.16),
        "color": jitter_color(rng, WOOD),
    }


def _item(kind: str, at: np.ndarray, size: float) -> list:
    if kind == "ball":
        return [sphere(at + [0, 0, size * 0.9], size)]
    if kind == "vase":
        return [lathe([size * 0.5, size * 0.8, size * 0.35], [0.0, size * 1.2, size * 2.4], at=at)]
    if kind == "box":
        return [box([size * 1.6, size * 1.2, size], at=at + [0, 0, size * 0.5])]
    return []


def build_table(p: Params) -> list:
    """Top at `height`, legs to the floor, maybe an object resting on the top."""
    h, w, d, t = p["height"], p["width"], p["depth"], p["thick"]
    round_top = p["top"] == "round"
    if round_top:
        d = w
        parts = [lathe([w / 2, w / 2], [h - t, h])]
    else:
        parts = [box([w, d, t], at=(0, 0, h - t / 2))]
    spread = 1.0 + np.tan(np.radians(p["splay_deg"])) * h / max(w, d)
    if p["legs"] == "pedestal":
        parts.append(rod((0, 0, 0), (0, 0, h - t), p["leg_r"] * 2.0))
        parts.append(lathe([p["foot_r"], p["foot_r"] * 0.6], [0.0, 0.035]))
    else:
        count = 4 if p["legs"] == "four" else 3
        for k in range(count):
            if count == 4 and not round_top:
                corner = np.array([(k % 2 - 0.5) * w, (k // 2 - 0.5) * d, 0.0])
                top_pt = corner * (1.0 - p["inset"]) + [0, 0, h - t]
            else:
                # within the top's inscribed circle, so every leg is under the top
                top_pt = polar((min(w, d) / 2) * (1.0 - p["inset"]), 90.0 + k * 360.0 / count,
                               h - t)
            foot = np.array([top_pt[0] * spread, top_pt[1] * spread, 0.0])
            parts.append(rod(foot, top_pt + [0, 0, t / 2], p["leg_r"]))
    at = np.array([p["item_at"][0] * w, p["item_at"][1] * d, h - 0.002])
    return parts + _item(p["item"], at, p["item_size"])


def sample_stool(rng: np.random.Generator) -> Params:
    """Seat, 3 or 4 splayed legs, optional rung ring and footrest."""
    return {
        "seat_r": uniform(rng, 0.12, 0.28),
        "seat_t": uniform(rng, 0.03, 0.07),
        "height": uniform(rng, 0.35, 0.9),
        "legs": choice(rng, [3, 4]),
        "leg_r": uniform(rng, 0.015, 0.035),
        "splay_deg": uniform(rng, 0.0, 15.0),
        "rung_at": uniform(rng, 0.0, 0.5),
        "back": uniform(rng, 0.0, 1.0) < 0.25,
        "color": jitter_color(rng, (0.55, 0.42, 0.32)),
    }


def build_stool(p: Params) -> list:
    """A round seat on splayed legs, rungs between the legs, sometimes a low back."""
    h, r = p["height"], p["seat_r"]
    parts = [lathe([r, r], [h - p["seat_t"], h])]
    spread = np.tan(np.radians(p["splay_deg"])) * h
    feet = []
    for k in range(p["legs"]):
        angle = 45.0 + k * 360.0 / p["legs"]
        top_pt = polar(r * 0.75, angle, h - p["seat_t"] / 2)
        foot = polar(r * 0.75 + spread, angle, 0.0)
        parts.append(rod(foot, top_pt, p["leg_r"]))
        feet.append((foot, top_pt))
    if p["rung_at"] > 0.15:
        pts = [f + (t - f) * p["rung_at"] for f, t in feet]
        for a, b in zip(pts, pts[1:] + pts[:1], strict=True):
            parts.append(rod(a, b, p["leg_r"] * 0.7))
    if p["back"]:
        parts.append(slab(polar(r * 0.9, 180.0, h - 0.01), polar(r * 1.2, 180.0, h + 0.35),
                          0.03, r * 1.2))
    return parts


def sample_chair(rng: np.random.Generator) -> Params:
    """Seat size and height, leg thickness, back height and recline, armrests."""
    return {
        "seat_w": uniform(rng, 0.35, 0.55),
        "seat_d": uniform(rng, 0.35, 0.55),
        "seat_t": uniform(rng, 0.03, 0.07),
        "seat_h": uniform(rng, 0.3, 0.55),
        "leg_r": uniform(rng, 0.016, 0.035),
        "square_legs": bool(rng.uniform() < 0.5),
        "splay_deg": uniform(rng, 0.0, 8.0),
        "back_h": uniform(rng, 0.25, 0.6),
        "recline_deg": uniform(rng, 0.0, 25.0),
        "back_t": uniform(rng, 0.025, 0.06),
        "arms": bool(rng.uniform() < 0.3),
        "color": jitter_color(rng, (0.58, 0.40, 0.30)),
    }


def build_chair(p: Params) -> list:
    """Seat on four legs, a (reclined) back at -x, optional armrests."""
    w, d, h, t = p["seat_w"], p["seat_d"], p["seat_h"], p["seat_t"]
    parts = [box([d, w, t], at=(0, 0, h - t / 2))]
    spread = 1.0 + np.tan(np.radians(p["splay_deg"])) * h / min(w, d)
    for sx in (-0.5, 0.5):
        for sy in (-0.5, 0.5):
            top_pt = np.array([sx * (d - 0.05), sy * (w - 0.05), h - t / 2])
            foot = np.array([top_pt[0] * spread, top_pt[1] * spread, 0.0])
            if p["square_legs"]:
                parts.append(slab(foot, top_pt, p["leg_r"] * 1.8, p["leg_r"] * 1.8))
            else:
                parts.append(rod(foot, top_pt, p["leg_r"]))
    lean = np.radians(p["recline_deg"])
    base = np.array([-d / 2 + p["back_t"] / 2, 0.0, h - t])
    top = base + np.array([-np.sin(lean), 0.0, np.cos(lean)]) * (p["back_h"] + t)
    parts.append(slab(base, top, p["back_t"], w))  # thin along x, wide along y
    if p["arms"]:
        for sy in (-0.5, 0.5):
            parts.append(box([d * 0.9, 0.04, 0.03], at=(0, sy * w, h + 0.2)))
            parts.append(rod((d * 0.35, sy * w, h - t), (d * 0.35, sy * w, h + 0.19), 0.015))
    return parts


TABLE = Family("table", sample_table, build_table, color=WOOD,
               description="tables with rectangular or round tops on thin legs or a pedestal")
STOOL = Family("stool", sample_stool, build_stool, color=(0.55, 0.42, 0.32),
               description="round stools on three or four splayed legs")
CHAIR = Family("chair", sample_chair, build_chair, color=(0.58, 0.40, 0.30),
               description="chairs with reclined backs, thin legs, optional armrests")
