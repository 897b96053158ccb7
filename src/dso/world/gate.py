"""The ground-truth gate: keep an object only if the oracle finds it stable with margin.

The paper excludes unstable ground truth; we are stricter and also require that the object is
one piece (the oracle's pieces rule) and comes to rest close to its built pose (not in some
other stable pose) with its centre of mass safely inside the support polygon. The builder
applies the same gate (without the margin) to the surface of the object's occupancy grid, so
the grid a generator learns from is one piece and stands too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import trimesh


@dataclass(frozen=True)
class Verdict:
    """Whether to keep an object, why not, and the oracle's numbers."""

    keep: bool
    reason: str  # "ok" | "pieces" | "unstable" | "tilted" | "margin" | "error"
    tilt_deg: float | None
    margin: float | None


def judge(mesh: trimesh.Trimesh, max_tilt_deg: float, min_margin: float) -> Verdict:
    """Run the oracle (accurate preset, z up) on `mesh` and apply the gate."""
    from dso.physics import check_mesh

    result = check_mesh(mesh)
    tilt = result.tilt_deg if result.tilt_deg is not None and math.isfinite(result.tilt_deg) \
        else None
    margin = result.com_margin
    if result.status != "ok":
        return Verdict(False, "error", tilt, margin)
    if result.reason == "pieces":  # not one solid (at the grid's resolution, for a grid)
        return Verdict(False, "pieces", tilt, margin)
    if not result.stable:
        return Verdict(False, "unstable", tilt, margin)
    if tilt is None or tilt > max_tilt_deg:
        return Verdict(False, "tilted", tilt, margin)
    if margin is not None and margin < min_margin:
        return Verdict(False, "margin", tilt, margin)
    return Verdict(True, "ok", tilt, margin)
