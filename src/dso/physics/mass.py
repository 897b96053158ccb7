"""Mass, centre of mass and inertia of the real mesh at uniform density.

Exact signed-volume integration needs a closed, consistently oriented surface. Meshes that are
not get a fallback chain (DESIGN.md §3), and `source` records which one was used:

- ``"mesh"``: the mesh itself is closed and oriented (every directed edge is matched by its
  reverse; inverted meshes are flipped as a whole, cavities stay cavities);
- ``"repaired"``: closed after fixing winding and filling holes;
- ``"voxel"``: a filled voxelisation of the surface (64 cells along the longest side; gaps
  and holes up to about one cell are bridged);
- ``"hull"``: the convex hull (always defined for a non-flat mesh).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

MASS_SOURCES = ("mesh", "repaired", "voxel", "hull", "legacy")
_VOXELS_PER_SIDE = 64
_MIN_RELATIVE_VOLUME = 1e-9


@dataclass(frozen=True)
class MassProperties:
    """Mass (kg), centre of mass (3,), inertia about the centre of mass (3x3), provenance."""

    mass: float
    com: np.ndarray
    inertia: np.ndarray
    source: str


def is_closed_oriented(faces: np.ndarray) -> bool:
    """True when every directed edge (a, b) is balanced by a reverse edge (b, a).

    This is exactly the condition under which the divergence theorem gives the enclosed volume,
    and it admits non-manifold edges (e.g. two cubes sharing an edge), unlike `is_watertight`.
    """
    f = np.asarray(faces, dtype=np.int64)
    if len(f) == 0:
        return False
    a = f.reshape(-1)
    b = np.roll(f, -1, axis=1).reshape(-1)
    n = int(f.max()) + 1
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keys = lo * n + hi
    sign = np.where(a < b, 1, -1)
    _, inverse = np.unique(keys, return_inverse=True)
    return bool(np.all(np.bincount(inverse, weights=sign) == 0))


def _integrate(mesh: trimesh.Trimesh, density: float, source: str) -> MassProperties | None:
    props = trimesh.triangles.mass_properties(mesh.triangles, density=1.0)
    volume = float(props.volume)
    scale = float(np.ptp(mesh.vertices, axis=0).max()) ** 3
    if not np.isfinite(volume) or abs(volume) < _MIN_RELATIVE_VOLUME * scale:
        return None
    sign = 1.0 if volume > 0 else -1.0  # an inverted mesh integrates to minus everything
    inertia = sign * np.asarray(props.inertia) * density
    com = np.asarray(props.center_mass, dtype=np.float64)
    if not (np.all(np.isfinite(com)) and np.all(np.linalg.eigvalsh(inertia) > 0)):
        return None
    return MassProperties(abs(volume) * density, com, inertia, source)


def _repaired(mesh: trimesh.Trimesh) -> trimesh.Trimesh | None:
    fixed = mesh.copy()
    fixed.merge_vertices(digits_vertex=8)
    fixed.update_faces(fixed.unique_faces())
    fixed.update_faces(fixed.nondegenerate_faces())
    fixed.remove_unreferenced_vertices()
    trimesh.repair.fix_winding(fixed)
    trimesh.repair.fill_holes(fixed, use_fan=True)
    return fixed if is_closed_oriented(fixed.faces) else None


def _voxel_weights(mesh: trimesh.Trimesh, pitch: float) -> tuple[np.ndarray, np.ndarray]:
    """Occupancy weights of a voxel grid and its corner: dense deterministic surface samples
    mark a shell, closed by one dilation (bridges gaps and small holes), filled, eroded back.
    Shell cells count half (the surface cuts them), interior cells fully."""
    from scipy import ndimage

    lo = mesh.vertices.min(axis=0) - 2.5 * pitch  # surfaces on grid lines land mid-cell
    dims = np.ceil((mesh.vertices.max(axis=0) + 2 * pitch - lo) / pitch).astype(int) + 1
    count = int(min(1_000_000, max(20_000, 4 * mesh.area / pitch**2)))
    points, _ = trimesh.sample.sample_surface(mesh, count, seed=0)
    points = np.concatenate([points, mesh.vertices])
    shell = np.zeros(dims, dtype=bool)
    idx = np.floor((points - lo) / pitch).astype(int)
    shell[idx[:, 0], idx[:, 1], idx[:, 2]] = True
    solid = ndimage.binary_fill_holes(ndimage.binary_dilation(shell))
    weights = ndimage.binary_erosion(solid).astype(np.float64)
    weights[shell] = 0.5
    return weights, lo


def _voxel(mesh: trimesh.Trimesh, density: float) -> MassProperties | None:
    pitch = float(np.ptp(mesh.vertices, axis=0).max()) / _VOXELS_PER_SIDE
    weights, lo = _voxel_weights(mesh, pitch)
    cells = np.argwhere(weights > 0)
    if len(cells) < 8:
        return None
    w = weights[cells[:, 0], cells[:, 1], cells[:, 2]] * (density * pitch**3)
    centres = lo + (cells + 0.5) * pitch
    mass = float(w.sum())
    com = (w[:, None] * centres).sum(axis=0) / mass
    r = centres - com
    inertia = np.sum(w * np.sum(r * r, axis=1)) * np.eye(3) - (w[:, None] * r).T @ r
    inertia += mass * pitch**2 / 6.0 * np.eye(3)  # each cell's own inertia
    return MassProperties(mass, com, inertia, "voxel")


def _hull(mesh: trimesh.Trimesh, density: float) -> MassProperties:
    props = _integrate(mesh.convex_hull, density, "hull")
    if props is None:
        raise ValueError("the convex hull has no volume (flat mesh)")
    return props


def mass_properties(mesh: trimesh.Trimesh, density: float = 1000.0) -> MassProperties:
    """Mass properties of the solid bounded by `mesh`, through the fallback chain."""
    if is_closed_oriented(mesh.faces):
        props = _integrate(mesh, density, "mesh")
        if props is not None:
            return props
    repaired = _repaired(mesh)
    if repaired is not None:
        props = _integrate(repaired, density, "repaired")
        if props is not None:
            return props
    try:
        props = _voxel(mesh, density)
    except Exception:  # voxelisation of broken geometry can fail in many ways
        props = None
    return props if props is not None else _hull(mesh, density)
