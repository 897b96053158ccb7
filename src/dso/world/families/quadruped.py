"""Four-legged animals: thin legs, heavy heads on long or short necks, tails."""

from __future__ import annotations

import numpy as np

from dso.world.families.base import Family, Params, jitter_color, uniform
from dso.world.families.parts import capsule, frustum, sphere


def sample(rng: np.random.Generator) -> Params:
    """Draw body, legs, neck, head and tail proportions and a gait."""
    return {
        "body_len": uniform(rng, 0.3, 0.65),
        "body_r": uniform(rng, 0.07, 0.15),
        "leg_len": uniform(rng, 0.2, 0.55),
        "leg_r": uniform(rng, 0.018, 0.04),
        "hip_w": uniform(rng, 0.35, 0.9),
        "gait": uniform(rng, -0.12, 0.12),
        "neck_len": uniform(rng, 0.06, 0.45),
        "neck_deg": uniform(rng, 25.0, 85.0),
        "head_r": uniform(rng, 0.05, 0.11),
        "snout": uniform(rng, 0.0, 0.12),
        "tail_len": uniform(rng, 0.0, 0.25),
        "tail_deg": uniform(rng, -30.0, 70.0),
        "paw_r": uniform(rng, 1.0, 1.6),
        "color": jitter_color(rng, (0.62, 0.48, 0.34)),
    }


def build(p: Params) -> list:
    """Body capsule on four legs, neck and head at the front (+x), tail at the back."""
    half = p["body_len"] / 2.0
    body_z = p["leg_len"] + p["body_r"] * 0.7
    front, back = np.array([half, 0.0, body_z]), np.array([-half, 0.0, body_z])
    parts = [capsule(back, front, p["body_r"])]
    paw = p["leg_r"] * p["paw_r"]
    for end, swing in ((half * 0.85, p["gait"]), (-half * 0.85, -p["gait"])):
        for side in (1.0, -1.0):
            hip = np.array([end, side * p["body_r"] * p["hip_w"], body_z])
            foot = np.array([end + side * swing, side * p["body_r"] * p["hip_w"], paw])
            parts.append(capsule(foot, hip, p["leg_r"]))
            parts.append(sphere(foot, paw, scale=(1.3, 1.0, 1.0), subdivisions=1))
    neck_dir = np.array([np.cos(np.radians(p["neck_deg"])), 0.0,
                         np.sin(np.radians(p["neck_deg"]))])
    head = front + neck_dir * (p["neck_len"] + p["body_r"] * 0.5)
    parts.append(capsule(front, head, p["body_r"] * 0.45))
    parts.append(sphere(head, p["head_r"]))
    if p["snout"] > 0.01:
        parts.append(frustum(head, head + [p["head_r"] * 0.5 + p["snout"], 0, -p["head_r"] * 0.3],
                             p["head_r"] * 0.6, p["head_r"] * 0.35))
    if p["tail_len"] > 0.03:
        t = np.radians(p["tail_deg"])
        tip = back + np.array([-np.cos(t), 0.0, np.sin(t)]) * (p["tail_len"] + p["body_r"])
        parts.append(capsule(back, tip, p["body_r"] * 0.2))
    return parts


FAMILY = Family("quadruped", sample, build, color=(0.62, 0.48, 0.34),
                description="four-legged animals on thin legs with heavy heads and tails")
