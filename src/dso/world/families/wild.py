"""Held-out families for the in-the-wild split: never used for training or evaluation."""

from __future__ import annotations

import numpy as np

from dso.world.families.base import Family, Params, choice, jitter_color, uniform
from dso.world.families.parts import box, capsule, frustum, rod, slab, sphere, torus


def sample_clock(rng: np.random.Generator) -> Params:
    """Twin-bell or boxy alarm clocks standing on two to four small feet."""
    return {
        "kind": choice(rng, ["bells", "box"], p=[0.7, 0.3]),
        "body_r": uniform(rng, 0.2, 0.35),
        "depth": uniform(rng, 0.08, 0.2),
        "feet": choice(rng, [2, 4]),
        "foot_len": uniform(rng, 0.04, 0.12),
        "foot_spread_deg": uniform(rng, 20.0, 50.0),
        "foot_r": uniform(rng, 0.015, 0.035),
        "bell_r": uniform(rng, 0.06, 0.12),
        "handle": bool(rng.uniform() < 0.6),
        "color": jitter_color(rng, (0.85, 0.30, 0.28)),
    }


def build_clock(p: Params) -> list:
    """A round (or boxy) face along +-y, bells on top, small splayed feet under it."""
    r, dep = p["body_r"], p["depth"]
    spread = np.radians(p["foot_spread_deg"])
    centre_z = r + p["foot_len"] * np.cos(spread) * 0.8
    centre = np.array([0.0, 0.0, centre_z])
    if p["kind"] == "box":
        parts = [box([r * 2.0, dep, r * 1.5], at=centre)]
        bottom = r * 0.75
    else:
        parts = [rod(centre - [0, dep / 2, 0], centre + [0, dep / 2, 0], r, sections=28)]
        bottom = r
        for side in (-1.0, 1.0):
            a = np.radians(40.0) * side
            at = centre + np.array([np.sin(a), 0.0, np.cos(a)]) * (r + p["bell_r"] * 0.3)
            parts.append(sphere(at, p["bell_r"], scale=(1.0, 1.0, 0.8)))
        parts.append(rod(centre + [0, 0, r], centre + [0, 0, r + p["bell_r"] * 0.9], 0.012))
    if p["handle"]:
        parts.append(torus(centre + [0, 0, bottom + 0.02], r * 0.45, 0.018, axis=(0, 1, 0)))
    ys = [0.0] if p["feet"] == 2 else [-dep * 0.3, dep * 0.3]
    for side in (-1.0, 1.0):
        for y in ys:
            top = centre + np.array([side * np.sin(spread) * bottom * 0.7, y,
                                     -np.cos(spread) * bottom * 0.8])
            foot = np.array([top[0] + side * p["foot_len"] * np.sin(spread), y, p["foot_r"]])
            parts += [rod(foot, top, p["foot_r"] * 0.8), sphere(foot, p["foot_r"])]
    return parts


def sample_motorcycle(rng: np.random.Generator) -> Params:
    """Wheels, frame and load, leaning onto a side stand."""
    return {
        "wheel_r": uniform(rng, 0.16, 0.24),
        "tyre_r": uniform(rng, 0.03, 0.06),
        "wheelbase": uniform(rng, 0.6, 0.85),
        "seat_h": uniform(rng, 0.35, 0.5),
        "tank_r": uniform(rng, 0.06, 0.1),
        "bar_w": uniform(rng, 0.2, 0.4),
        "lean_deg": uniform(rng, 4.0, 14.0),
        "stand_len": uniform(rng, 0.85, 1.15),
        "color": jitter_color(rng, (0.30, 0.38, 0.75)),
    }


def _bike(p: Params) -> tuple[list, np.ndarray]:
    r, base = p["wheel_r"], p["wheelbase"]
    rear, front = np.array([-base / 2, 0.0, r]), np.array([base / 2, 0.0, r])
    parts = []
    for hub in (rear, front):
        parts += [torus(hub, r - p["tyre_r"], p["tyre_r"], axis=(0, 1, 0)),
                  rod(hub - [0, 0.02, 0], hub + [0, 0.02, 0], r - p["tyre_r"] * 1.5)]
    head = front + np.array([-0.12, 0.0, p["seat_h"] + 0.12])
    seat = np.array([-base * 0.15, 0.0, p["seat_h"] + r * 0.4])
    parts += [rod(front, head, 0.025), rod(head - [0, p["bar_w"] / 2, 0],
                                           head + [0, p["bar_w"] / 2, 0], 0.018),
              capsule(rear, seat, 0.03), capsule(seat, head, 0.035),
              sphere((seat + head) / 2 + [0, 0, 0.03], p["tank_r"], scale=(1.8, 1.0, 0.9)),
              box([base * 0.5, 0.1, 0.08], at=seat + [-0.05, 0, 0.03])]
    engine = np.array([0.0, 0.0, r + 0.04])  # held by a down tube and a swing arm
    parts += [box([0.18, 0.14, 0.14], at=engine), rod(head, engine, 0.025),
              rod(engine, rear, 0.02)]
    frame_pt = np.array([-0.05, 0.0, r + 0.02])
    return parts, frame_pt


def build_motorcycle(p: Params) -> list:
    """The bike leans towards -y about its tyre contact line, resting on a kickstand."""
    parts, frame_pt = _bike(p)
    lean = np.radians(p["lean_deg"])
    rot = np.array([[1, 0, 0], [0, np.cos(lean), -np.sin(lean)], [0, np.sin(lean), np.cos(lean)]])
    leaned = [(v @ rot.T, f) for v, f in parts]
    ground = min(v[:, 2].min() for v, _ in leaned)
    hip = rot @ frame_pt
    reach = hip[2] - ground
    tip = np.array([hip[0] - 0.05, hip[1] - reach * np.tan(lean) * p["stand_len"] * 2.5,
                    ground + 0.015])
    return leaned + [rod(hip, tip, 0.015), sphere(tip, 0.015)]


def sample_bird(rng: np.random.Generator) -> Params:
    """Body, head, tail and wings on two thin legs with small toes."""
    return {
        "body_r": uniform(rng, 0.12, 0.22),
        "body_pitch_deg": uniform(rng, -10.0, 35.0),
        "leg_len": uniform(rng, 0.1, 0.45),
        "leg_r": uniform(rng, 0.012, 0.022),
        "stance": uniform(rng, 0.03, 0.08),
        "toe_len": uniform(rng, 0.05, 0.12),
        "head_r": uniform(rng, 0.06, 0.1),
        "neck": uniform(rng, 0.0, 0.2),
        "beak": uniform(rng, 0.04, 0.14),
        "tail": uniform(rng, 0.08, 0.25),
        "color": jitter_color(rng, (0.78, 0.70, 0.30)),
    }


def build_bird(p: Params) -> list:
    """An ellipsoid body over thin legs; head and beak at +x, tail at -x."""
    r, pitch = p["body_r"], np.radians(p["body_pitch_deg"])
    centre = np.array([0.0, 0.0, p["leg_len"] + r * 0.7])
    axis = np.array([np.cos(pitch), 0.0, np.sin(pitch)])
    parts = [sphere(centre, r, scale=(1.4, 0.85, 0.85))]
    parts.append(sphere(centre + axis * r * 0.2, r * 0.75, scale=(1.5, 0.4, 0.7)))  # wings
    head = centre + axis * r * 1.2 + np.array([0.0, 0.0, r * 0.4 + p["neck"]])
    parts += [capsule(centre + axis * r * 0.8, head, p["head_r"] * 0.6), sphere(head, p["head_r"])]
    beak = head + [p["head_r"] * 0.7, 0, 0]
    parts.append(frustum(beak, beak + [p["beak"], 0, -0.02], p["head_r"] * 0.4, 0.005))
    parts.append(slab(centre - axis * r * 1.1, centre - axis * (r * 1.1 + p["tail"])
                      - [0, 0, p["tail"] * 0.3], r * 0.6, 0.03))
    for side in (-1.0, 1.0):
        ankle = np.array([0.0, side * p["stance"], 0.012])
        parts.append(rod(ankle, centre + [0, side * p["stance"] * 0.6, -r * 0.5], p["leg_r"]))
        for yaw in (-30.0, 0.0, 30.0):
            a = np.radians(yaw)
            parts.append(capsule(ankle, ankle + [np.cos(a) * p["toe_len"],
                                                 np.sin(a) * p["toe_len"], 0.0], 0.012))
        parts.append(capsule(ankle, ankle - [p["toe_len"] * 0.5, 0, 0], 0.012))
    return parts


CLOCK = Family("alarm_clock", sample_clock, build_clock, color=(0.85, 0.30, 0.28), held_out=True,
               description="twin-bell and boxy alarm clocks on small splayed feet")
MOTORCYCLE = Family("motorcycle", sample_motorcycle, build_motorcycle, color=(0.30, 0.38, 0.75),
                    held_out=True, description="motorcycles leaning on a side stand")
BIRD = Family("bird", sample_bird, build_bird, color=(0.78, 0.70, 0.30), held_out=True,
              description="birds standing on two thin legs with small toes")
