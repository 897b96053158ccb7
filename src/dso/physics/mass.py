"""Mass, centre of mass and inertia of the real mesh at uniform density.

Exact signed-volume integration needs a closed, consistently oriented surface. Meshes that are
not get a fallback chain (docs/oracle.md §Mass), and `source` records which one was used:

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

from dso.interrupts import reraise_if_interrupted
from dso.physics.loading import bounds
from dso.physics.topology import CLOSED_KEY, is_closed_oriented

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

    def moved(self, centre: np.ndarray, scale: float, drop: float) -> MassProperties:
        """The same solid after `p -> (p - centre) * scale - (0, 0, drop)` (loading.normalise)."""
        com = (np.asarray(self.com) - centre) * scale
        com[2] -= drop
        return MassProperties(self.mass * scale**3, com, self.inertia * scale**5, self.source)


def face_corners(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, ...]:
    """The corners (a, b, c) of every face as (3, M) arrays with rows x, y, z."""
    v = np.ascontiguousarray(np.asarray(vertices, dtype=np.float64).T)
    f = np.ascontiguousarray(np.asarray(faces).T)  # one contiguous index row per corner
    # np.take gathers columns ~4x faster than v[:, f[k]] (same values)
    return tuple(np.take(v, f[k], axis=1) for k in range(3))


def signed_volumes(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Per face, the signed volume a.(b x c) / 6 of the tetrahedron (origin, a, b, c)."""
    return np.divide(a[0] * (b[1] * c[2] - b[2] * c[1]) + a[1] * (b[2] * c[0] - b[0] * c[2])
                     + a[2] * (b[0] * c[1] - b[1] * c[0]), 6.0)


_MOMENTS = ((0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (2, 0))  # xx, yy, zz, xy, yz, zx


def moments(a: np.ndarray, b: np.ndarray, c: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """The integrals of 1, x, y, z, x^2, y^2, z^2, xy, yz, zx over the tetrahedra (origin, a,
    b, c) of signed volumes `volume`, summed: (10,). Over a closed surface (with the faces'
    own `signed_volumes`) they are the integrals over the enclosed solid, minus everything for
    an inverted surface; scaling a face's volume scales its terms (a shell turned round: -1,
    dropped: 0).

    The exact moments of a tetrahedron with a vertex at the origin: volume V, first moments
    V s / 4, second moments V / 20 (a a' + b b' + c c' + s s') with s = a + b + c. The second
    moments' sums are one 3x3 matrix product per corner: `volume_integrals` takes 3.9 ms at
    42k faces against 6.5 ms with six products per face (docs/measurements.md).
    """
    s = a + b
    s += c
    w = volume / 20.0
    second = sum((x * w) @ x.T for x in (a, b, c, s))
    out = np.empty(10)
    out[0] = volume.sum()
    out[1:4] = s @ volume / 4.0
    out[4:] = [second[p, q] for p, q in _MOMENTS]
    return out


def volume_integrals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """`moments` of every face of a surface: the integrals over the solid it bounds."""
    corners = face_corners(vertices, faces)
    return moments(*corners, signed_volumes(*corners))


def from_integrals(i: np.ndarray, origin: np.ndarray, size: float, density: float,
                   source: str) -> MassProperties | None:
    """Mass properties from a solid's volume integrals about `origin` (None when the volume is
    negligible for an object of `size` or the inertia is not positive definite)."""
    volume = float(i[0])
    if not np.isfinite(volume) or abs(volume) < _MIN_RELATIVE_VOLUME * size**3:
        return None
    c = i[1:4] / volume  # correct for either orientation
    xx, yy, zz = i[4:7] - volume * c**2  # second moments about the centre of mass
    xy, yz, zx = i[7:10] - volume * c * np.roll(c, -1)
    inertia = np.array([[yy + zz, -xy, -zx], [-xy, xx + zz, -yz], [-zx, -yz, xx + yy]])
    inertia *= density * (1.0 if volume > 0 else -1.0)
    if not (np.all(np.isfinite(c)) and np.all(np.linalg.eigvalsh(inertia) > 0)):
        return None
    return MassProperties(abs(volume) * density, c + origin, inertia, source)


def _integrate(mesh: trimesh.Trimesh, density: float, source: str) -> MassProperties | None:
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    lo, hi = bounds(vertices)
    origin = 0.5 * (lo + hi)  # limits cancellation
    i = volume_integrals(vertices - origin, mesh.faces)
    return from_integrals(i, origin, float((hi - lo).max()), density, source)


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
    closed = mesh.metadata.get(CLOSED_KEY)  # known when the mesh comes from loading.prepare
    if closed if closed is not None else is_closed_oriented(mesh.faces):
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
        reraise_if_interrupted()
        props = None
    return props if props is not None else _hull(mesh, density)
