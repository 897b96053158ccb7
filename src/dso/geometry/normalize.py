"""Put a mesh into the shared unit cube, standing on its lowest point."""

from __future__ import annotations

import numpy as np
import trimesh


def normalize_mesh(mesh: trimesh.Trimesh, margin: float = 0.006) -> trimesh.Trimesh:
    """A copy of `mesh` centred in x and y, uniformly scaled so its largest extent is
    `1 - 2 * margin`, and lifted so its lowest point is at `z = -0.5 + margin`.

    The result fits inside `[-0.5, 0.5]^3` with `margin` to spare on every side, so an
    occupancy grid over the unit cube sees the whole object, feet included. The default
    margin (0.006) keeps the lowest point off the voxel-centre lattices of 32^3 and 64^3
    (where a flat bottom exactly on a centre would make the bottom layer a coin toss) while
    the bottom voxel centres at both resolutions still lie inside a flat foot.
    """
    if not 0.0 <= margin < 0.5:
        raise ValueError(f"margin must be in [0, 0.5), got {margin}")
    if len(mesh.vertices) == 0:
        raise ValueError("normalize_mesh: the mesh has no vertices")
    verts = np.asarray(mesh.vertices, dtype=np.float64)
    if not np.isfinite(verts).all():
        raise ValueError("normalize_mesh: the mesh has non-finite vertices")
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    extent = float((hi - lo).max())
    if extent <= 0:
        raise ValueError("normalize_mesh: the mesh has zero extent")
    scale = (1.0 - 2.0 * margin) / extent
    shift = np.array([-(lo[0] + hi[0]) / 2.0, -(lo[1] + hi[1]) / 2.0, -lo[2]])
    out = mesh.copy()
    out.vertices = (verts + shift) * scale + np.array([0.0, 0.0, -0.5 + margin])
    return out
