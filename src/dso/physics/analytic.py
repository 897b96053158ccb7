"""Analytic diagnostics at the initial pose: support polygon, COM margin, toppling angle.

A diagnostic and a margin measure, not the verdict: curved bases fool it
(docs/oracle.md §Analytic diagnostics).
Undefined (None) when the object does not rest on a face: one contact point or a line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull, QhullError

SUPPORT_TOL = 2e-3  # vertices this close to the lowest point touch the ground (object ~1 across)
FLAT_TOL = 1e-5  # a flat face: its vertices are coplanar to this (for the static stop)
STATIC_MIN_DEG = 2.0  # the static stop needs the COM this far inside (toppling angle)
_MIN_AREA = 1e-8


@dataclass(frozen=True)
class Support:
    """COM margin (signed distance to the support polygon's boundary, > 0 inside) and the
    toppling angle (degrees to tip over the nearest edge, < 0 when the COM is outside)."""

    com_margin: float
    topple_angle_deg: float
    polygon: np.ndarray  # (K, 2) counter-clockwise


def support_polygon(vertices: np.ndarray, tol: float = SUPPORT_TOL) -> np.ndarray | None:
    """Counter-clockwise polygon of the ground contact, or None if it has no area."""
    v = np.asarray(vertices, dtype=np.float64)
    low = v[v[:, 2] <= v[:, 2].min() + tol][:, :2]
    if len(low) < 3:
        return None
    try:
        hull = ConvexHull(low)
    except QhullError:
        return None
    if hull.volume < _MIN_AREA:  # in 2D, `volume` is the area
        return None
    return low[hull.vertices]  # scipy gives 2D hull vertices counter-clockwise


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(np.sum((p - a) * ab, axis=1) / np.sum(ab * ab, axis=1), 0.0, 1.0)
    return np.linalg.norm(a + t[:, None] * ab - p, axis=1)


def support_diagnostics(vertices: np.ndarray, com: np.ndarray,
                        tol: float = SUPPORT_TOL) -> Support | None:
    """COM margin and toppling angle for the mesh resting as given (lowest point on the ground)."""
    polygon = support_polygon(vertices, tol)
    if polygon is None:
        return None
    com = np.asarray(com, dtype=np.float64)
    height = float(com[2] - np.asarray(vertices)[:, 2].min())
    a, b = polygon, np.roll(polygon, -1, axis=0)
    edge = b - a
    normal_in = np.stack([-edge[:, 1], edge[:, 0]], axis=1)  # left normal = inside for CCW
    normal_in /= np.linalg.norm(normal_in, axis=1, keepdims=True)
    p = com[None, :2]
    line_dist = np.sum((p - a) * normal_in, axis=1)
    nearest = float(line_dist.min())
    if nearest >= 0:
        margin = nearest
    else:
        margin = -float(_segment_distance(np.repeat(p, len(a), 0), a, b).min())
    angle = math.degrees(math.atan2(nearest, max(height, 1e-12)))
    return Support(margin, angle, polygon)


def in_static_equilibrium(vertices: np.ndarray, com: np.ndarray) -> bool:
    """True when the body, at rest as given, stands on a flat face with its centre of mass
    more than STATIC_MIN_DEG of toppling angle inside it: gravity and the contact forces
    balance exactly, so it stays put (tilt 0). Curved or tilted bases have no flat face and
    return False (they must be simulated)."""
    support = support_diagnostics(vertices, com, tol=FLAT_TOL)
    return support is not None and support.topple_angle_deg > STATIC_MIN_DEG
