"""Check a generated sample straight from its occupancy grid, without a mesh file.

A `Grid` is accepted wherever the oracle takes a mesh (`check_mesh`, `check_many`,
`ray_check_many`). Its surface is the one `dso.geometry.grid_to_mesh` writes to the dataset
(marching cubes at level 0.5 on the zero-padded grid, outward faces), built here in memory
with no welding pass (marching cubes already shares its vertices) and no file round trip.

The grid's lattice also narrows the search for a reduced collision hull (the opt-in
`OracleConfig.hull_tol`). Every surface vertex lies on a lattice line of the grid along each
axis; a vertex with another vertex on either side of it on such a line is a convex combination
of the two, so it cannot be a vertex of the hull. Only vertices extreme on all three of their
lines are searched. With the default exact hull MuJoCo gets every vertex, as for the mesh file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from dso.geometry.grid import pack_occupancy, unpack_occupancy
from dso.physics.loading import MeshInputError, cap_faces, normalise, resolve_up, to_z_up
from dso.physics.topology import CLOSED_KEY

HULL_CANDIDATES_KEY = "dso_hull_candidates"  # Trimesh.metadata: bool per vertex (may be hull)


@dataclass(frozen=True)
class Grid:
    """Occupancy `bool [R, R, R]` indexed `[x, y, z]`, z up (docs/formats.md, Grids);
    `name` becomes the result's `path`."""

    occupancy: np.ndarray
    name: str | None = None

    def __getstate__(self) -> tuple:  # crosses process boundaries as bits: 8x smaller
        occ = np.asarray(self.occupancy)
        if not _cubic_bool(occ):  # as it is, so that every backend refuses it alike
            return occ, None, self.name
        return pack_occupancy(occ), occ.shape[-1], self.name

    def __setstate__(self, state: tuple) -> None:
        data, last, name = state
        occupancy = data if last is None else unpack_occupancy(data, last)
        object.__setattr__(self, "occupancy", occupancy)
        object.__setattr__(self, "name", name)


def _cubic_bool(occ: np.ndarray) -> bool:
    return occ.dtype == bool and occ.ndim == 3 and occ.shape[0] == occ.shape[1] == occ.shape[2]


def surface(occupancy: np.ndarray,
            candidates: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(vertices in unit-cube coordinates, outward faces, hull-candidate mask or None when not
    asked for) of the grid's marching-cubes surface; vertices and faces equal
    `grid_to_mesh`'s."""
    from skimage.measure import marching_cubes

    occ = np.asarray(occupancy)
    if not _cubic_bool(occ):  # a float field's surface is not on the lattice; the unit cube
        # holds R voxels along every axis, so another shape would be stretched
        raise MeshInputError("unsupported", f"occupancy must be a bool [R, R, R] grid, got "
                             f"{occ.dtype} {occ.shape}")
    if not occ.any():
        raise MeshInputError("empty", "the occupancy grid is empty")
    occupied = [np.flatnonzero(occ.any(axis=tuple(a for a in range(3) if a != axis)))
                for axis in range(3)]
    lo = np.array([o[0] for o in occupied])  # marching cubes on the occupied box only
    box = occ[tuple(slice(o[0], o[-1] + 1) for o in occupied)]
    padded = np.pad(box.astype(np.float32), 1)
    index, faces, _, _ = marching_cubes(padded, level=0.5, method="lorensen")
    index = index.astype(np.float64) + lo  # exact: integer and half-integer coordinates
    vertices = (index - 1.0 + 0.5) / np.asarray(occ.shape, dtype=np.float64) - 0.5
    # skimage's faces on a grid whose inside is high face inwards, always (grid_to_mesh finds
    # a negative volume and inverts): reversed here without computing the volume
    faces = np.ascontiguousarray(faces[:, ::-1], dtype=np.int64)
    return vertices, faces, hull_candidates(index) if candidates else None


def hull_candidates(index: np.ndarray) -> np.ndarray:
    """Vertices (in grid index coordinates, each on a lattice line of every axis) that are
    extreme on all three of their axis-parallel lattice lines: a superset of the hull's."""
    k = np.rint(2.0 * index).astype(np.int64)  # exact: every coordinate is a multiple of 0.5
    span = int(k.max()) + 1
    keep = np.ones(len(k), dtype=bool)
    for axis in range(3):
        u, w = [a for a in range(3) if a != axis]
        line = k[:, u] * span + k[:, w]
        order = np.argsort(line * span + k[:, axis], kind="stable")
        ordered = line[order]
        change = ordered[1:] != ordered[:-1]
        extreme = np.zeros(len(k), dtype=bool)
        extreme[order[np.concatenate([[True], change])]] = True  # lowest on its line
        extreme[order[np.concatenate([change, [True]])]] = True  # highest on its line
        keep &= extreme
    return keep


def prepare_grid(grid: Grid, up: str = "auto", max_faces: int = 0,
                 on_too_many_faces: str = "decimate",
                 candidates: bool = True) -> tuple[trimesh.Trimesh, bool]:
    """The grid's surface normalised as `loading.prepare` normalises a mesh, with its closedness
    and (`candidates`: only the reduced hull uses them) hull candidates in `metadata`. Returns
    (mesh, decimated)."""
    vertices, faces, mask = surface(grid.occupancy, candidates)  # closed: no validate()
    mesh, decimated = cap_faces(trimesh.Trimesh(vertices, faces, process=False), max_faces,
                                on_too_many_faces)
    out = normalise(to_z_up(mesh, resolve_up(up, grid)))  # "auto": z
    if not decimated:
        out.metadata[CLOSED_KEY] = True  # marching cubes of a padded grid is closed
        if mask is not None:
            out.metadata[HULL_CANDIDATES_KEY] = mask
    return out, decimated
