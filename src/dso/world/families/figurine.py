"""Two-legged figurines: small feet, posed arms, held objects, leaning bodies."""

from __future__ import annotations

import numpy as np

from dso.world.families.base import Family, Params, choice, jitter_color, tilt, uniform
from dso.world.families.parts import box, capsule, rod, sphere

HELD = ("none", "ball", "staff", "parcel", "sword", "lantern")


def sample(rng: np.random.Generator) -> Params:
    """Draw a figurine's proportions, pose and held object."""
    return {
        "leg_len": uniform(rng, 0.3, 0.5),
        "leg_r": uniform(rng, 0.022, 0.045),
        "stance": uniform(rng, 0.04, 0.11),
        "stride": uniform(rng, -0.08, 0.08),
        "foot_len": uniform(rng, 0.07, 0.16),
        "foot_w": uniform(rng, 0.04, 0.08),
        "torso_len": uniform(rng, 0.25, 0.4),
        "torso_r": uniform(rng, 0.06, 0.12),
        "head_r": uniform(rng, 0.06, 0.11),
        "lean_fwd_deg": uniform(rng, -8.0, 22.0),
        "lean_side_deg": uniform(rng, -8.0, 8.0),
        "arm_r": uniform(rng, 0.018, 0.035),
        "arm_len": uniform(rng, 0.22, 0.34),
        "arm_raise_deg": [uniform(rng, 0.0, 170.0), uniform(rng, 0.0, 170.0)],
        "arm_spread_deg": [uniform(rng, 5.0, 50.0), uniform(rng, 5.0, 50.0)],
        "held": choice(rng, HELD, p=[0.3, 0.2, 0.15, 0.15, 0.1, 0.1]),
        "held_size": uniform(rng, 0.05, 0.11),
        "color": jitter_color(rng, (0.80, 0.62, 0.48)),
    }


def _arm_dir(raise_deg: float, spread_deg: float, side: float) -> np.ndarray:
    """Arm direction: hanging down at 0 deg raise, forward at 90, up at 180; spread sideways."""
    r, s = np.radians(raise_deg), np.radians(spread_deg)
    down_fwd = np.array([np.sin(r), 0.0, -np.cos(r)])
    return np.cos(s) * down_fwd + np.sin(s) * np.array([0.0, side, 0.0])


def _held(kind: str, hand: np.ndarray, size: float, arm_r: float) -> list:
    if kind == "ball":
        return [sphere(hand + [0, 0, size * 0.5], size)]
    if kind == "staff":
        return [rod(hand - [0, 0, 0.25], hand + [0, 0, 0.35], arm_r * 0.7)]
    if kind == "parcel":
        return [box([size * 2, size * 2, size * 1.6], at=hand + [size * 0.6, 0, 0])]
    if kind == "sword":
        return [rod(hand, hand + [0.35, 0, 0.1], arm_r * 0.5),
                box([0.02, 0.12, 0.03], at=hand + [0.02, 0, 0])]
    if kind == "lantern":
        return [rod(hand, hand - [0, 0, 0.08], arm_r * 0.4),
                box([size * 1.2, size * 1.2, size * 1.6], at=hand - [0, 0, 0.08 + size * 0.8])]
    return []


def build(p: Params) -> list:
    """Feet, legs, torso, head, arms and the held object."""
    foot_h = 0.035
    parts, hip_z = [], foot_h + p["leg_len"]
    for side, stride in ((1.0, p["stride"]), (-1.0, -p["stride"])):
        ankle = np.array([stride, side * p["stance"], foot_h])
        parts.append(box([p["foot_len"], p["foot_w"], foot_h],
                         at=ankle + [p["foot_len"] * 0.25, 0, -foot_h / 2]))
        hip = np.array([0.0, side * p["torso_r"] * 0.5, hip_z])
        parts.append(capsule(ankle, hip, p["leg_r"]))
    hip = np.array([0.0, 0.0, hip_z])
    up = tilt(np.array([0.0, 0.0, 1.0]), p["lean_fwd_deg"], p["lean_side_deg"])
    neck = hip + up * p["torso_len"]
    parts.append(capsule(hip, neck, p["torso_r"]))
    parts.append(sphere(neck + up * (p["torso_r"] * 0.5 + p["head_r"]), p["head_r"]))
    lateral = np.cross(up, [1.0, 0.0, 0.0])
    lateral /= np.linalg.norm(lateral)
    hands = []
    for i, side in enumerate((1.0, -1.0)):
        shoulder = neck - up * p["torso_r"] * 0.3 - lateral * side * p["torso_r"] * 1.1
        hand = shoulder + _arm_dir(p["arm_raise_deg"][i], p["arm_spread_deg"][i],
                                   -side) * p["arm_len"]
        parts.append(capsule(shoulder, hand, p["arm_r"]))
        hands.append(hand)
    parts += _held(p["held"], hands[0], p["held_size"], p["arm_r"])
    return parts


FAMILY = Family("figurine", sample, build, color=(0.80, 0.62, 0.48),
                description="two-legged figurines with small feet, posed arms, held objects")
