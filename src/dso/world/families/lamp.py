"""Lamps: floor, desk (cantilevered arm) and arc lamps on round or square bases."""

from __future__ import annotations

import numpy as np

from dso.world.families.base import Family, Params, choice, jitter_color, uniform
from dso.world.families.parts import box, frustum, lathe, rod, sphere


def sample(rng: np.random.Generator) -> Params:
    """Base, pole, arm reach and shade."""
    return {
        "kind": choice(rng, ["floor", "desk", "arc"], p=[0.4, 0.4, 0.2]),
        "base": choice(rng, ["round", "square"]),
        "base_r": uniform(rng, 0.12, 0.25),
        "base_t": uniform(rng, 0.03, 0.07),
        "pole_h": uniform(rng, 0.35, 0.9),
        "pole_r": uniform(rng, 0.016, 0.032),
        "reach": uniform(rng, 0.08, 0.32),
        "arm_deg": uniform(rng, 10.0, 70.0),
        "shade_r": uniform(rng, 0.08, 0.2),
        "shade_h": uniform(rng, 0.08, 0.2),
        "shade_tilt_deg": uniform(rng, 0.0, 60.0),
        "color": jitter_color(rng, (0.75, 0.72, 0.55)),
    }


def _shade(at: np.ndarray, p: Params, point_down: bool) -> list:
    """A truncated cone, narrow end up; tilted towards +x when `point_down`."""
    tilt = np.radians(p["shade_tilt_deg"] if point_down else 0.0)
    axis = np.array([np.sin(tilt), 0.0, -np.cos(tilt)])
    top = at - axis * p["shade_h"] * 0.3
    return [frustum(top, top + axis * p["shade_h"], p["shade_r"] * 0.45, p["shade_r"]),
            sphere(at, p["pole_r"] * 1.6)]


def build(p: Params) -> list:
    """Base, pole, optional arm out to +x, shade at the end."""
    t, r = p["base_t"], p["base_r"]
    if p["base"] == "round":
        parts = [lathe([r, r * 0.85], [0.0, t])]
    else:
        parts = [box([r * 1.8, r * 1.8, t], at=(0, 0, t / 2))]
    top = np.array([0.0, 0.0, t + p["pole_h"]])
    parts.append(rod((0, 0, t * 0.5), top, p["pole_r"]))
    if p["kind"] == "floor":
        hang = top + [0, 0, p["shade_h"] * 0.7]
        return parts + _shade(hang, p, point_down=False) + [rod(top, hang, p["pole_r"])]
    if p["kind"] == "desk":
        a = np.radians(p["arm_deg"])
        elbow = top + np.array([np.cos(a), 0.0, np.sin(a)]) * p["reach"]
        head = elbow + np.array([p["reach"] * 0.6, 0.0, -p["reach"] * 0.3])
        parts += [sphere(top, p["pole_r"] * 1.5), rod(top, elbow, p["pole_r"]),
                  sphere(elbow, p["pole_r"] * 1.5), rod(elbow, head, p["pole_r"])]
        return parts + _shade(head, p, point_down=True)
    # arc: the pole bends over in short straight pieces and hangs the shade at the end
    angles = np.radians(np.linspace(0.0, 150.0, 6))
    points = [top + p["reach"] * np.array([1.0 - np.cos(a), 0.0, 0.6 * np.sin(a)])
              for a in angles]
    for a_pt, b_pt in zip(points, points[1:], strict=False):
        parts += [rod(a_pt, b_pt, p["pole_r"]), sphere(b_pt, p["pole_r"])]
    return parts + _shade(points[-1] - [0, 0, p["pole_r"]], p, point_down=False)


FAMILY = Family("lamp", sample, build, color=(0.75, 0.72, 0.55),
                description="floor, desk and arc lamps: heavy shades on thin cantilevered arms")
