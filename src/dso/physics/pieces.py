"""The pieces of a mesh: which connected solids it is made of (docs/oracle.md, Pieces).

Colliding through the convex hull is exact for one connected solid only: the hull glues
separate solids together, so a table top floating above its legs would "stand". The rule:

- A *shell* is a set of faces connected through shared vertices.
- Two shells are one *piece* when their solids overlap, one holds the other, or their surfaces
  come closer than `gap` (default 0.01: 1% of the object's size, the longest side of its
  bounding box, which is 1 in the oracle's normalised frame). So a gap of 1% or more always
  separates and anything closer joins: intersecting shells, a box resting on a box, a cavity
  inside its solid. Distances are exact (manifold3d's `min_gap`) between shells that are closed
  2-manifolds; a shell that is not is stood in for by its convex hull, which can only join.
- A piece holding less than `debris_fraction` (default 0.005: 0.5%) of the volume is *debris*
  (marching-cubes floaters): dropped before the simulation and counted, never a verdict.

A mesh of one shell is one piece at the cost of one connected-components pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

DEFAULT_GAP = 0.01
DEFAULT_DEBRIS_FRACTION = 0.005


@dataclass(frozen=True)
class Pieces:
    """What `find_pieces` found. `keep` masks the faces of the significant pieces."""

    count: int  # significant pieces
    debris: int  # debris pieces dropped
    debris_fraction: float  # their share of the total volume
    keep: np.ndarray | None = None  # bool per face; None: every face is kept


def shell_labels(faces: np.ndarray, n_vertices: int) -> tuple[int, np.ndarray]:
    """(number of shells, shell index per face): faces joined through shared vertices."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    f = np.asarray(faces, dtype=np.int64)
    rows = np.concatenate([f[:, 0], f[:, 1]])
    cols = np.concatenate([f[:, 1], f[:, 2]])
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)),
                       shape=(n_vertices, n_vertices))
    n, vertex_label = connected_components(graph, directed=False)
    used = np.unique(vertex_label[f[:, 0]])
    if len(used) == n:
        return n, vertex_label[f[:, 0]]
    remap = np.full(n, -1, dtype=np.int64)  # unused vertices form their own components
    remap[used] = np.arange(len(used))
    return len(used), remap[vertex_label[f[:, 0]]]


def _signed_volumes(vertices: np.ndarray, faces: np.ndarray, labels: np.ndarray,
                    n: int) -> np.ndarray:
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    per_face = np.einsum("ij,ij->i", a, np.cross(b, c)) / 6.0
    return np.bincount(labels, weights=per_face, minlength=n)


class _Shell:
    """One shell as a manifold3d solid (or its hull), built on first use."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, flip: bool) -> None:
        used, inverse = np.unique(faces, return_inverse=True)
        self.vertices = vertices[used]
        self.faces = inverse.reshape(faces.shape)
        if flip:
            self.faces = self.faces[:, ::-1]
        self.lo = self.vertices.min(axis=0)
        self.hi = self.vertices.max(axis=0)
        self._solid = None
        self.exact = True

    def solid(self):
        if self._solid is None:
            self._solid = _manifold(self.vertices, self.faces)
            if self._solid is None:
                hull = trimesh.Trimesh(self.vertices, self.faces, process=False).convex_hull
                self._solid = _manifold(np.asarray(hull.vertices), np.asarray(hull.faces))
                self.exact = False
        return self._solid


def _manifold(vertices: np.ndarray, faces: np.ndarray):
    from manifold3d import Error, Manifold, Mesh

    mesh = Mesh(vert_properties=np.ascontiguousarray(vertices, dtype=np.float32),
                tri_verts=np.ascontiguousarray(faces, dtype=np.uint32))
    solid = Manifold(mesh)
    return solid if solid.status() == Error.NoError and not solid.is_empty() else None


def _hull_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    try:
        return float(trimesh.Trimesh(vertices[np.unique(faces)], process=False).convex_hull.volume)
    except Exception:  # flat or degenerate shell (qhull refuses it)
        return 0.0


def _closed_shells(faces: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    from dso.physics.topology import is_closed_oriented

    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n + 1))
    return np.array([is_closed_oriented(faces[order[bounds[i]:bounds[i + 1]]])
                     for i in range(n)])


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        self.parent[self.find(i)] = self.find(j)


def find_pieces(mesh: trimesh.Trimesh, gap: float = DEFAULT_GAP,
                debris_fraction: float = DEFAULT_DEBRIS_FRACTION) -> Pieces:
    """The significant pieces and debris of `mesh` (in the oracle's normalised frame)."""
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    n, labels = shell_labels(faces, len(vertices))
    if n == 1:
        return Pieces(1, 0, 0.0)
    origin = 0.5 * (vertices.min(axis=0) + vertices.max(axis=0))
    volumes = _signed_volumes(vertices - origin, faces, labels, n)
    closed = _closed_shells(faces, labels, n)
    sign = 1.0 if volumes[closed].sum() >= 0 else -1.0
    volumes = sign * volumes
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n + 1))
    shells = []
    for i in range(n):
        shell_faces = faces[order[bounds[i]:bounds[i + 1]]]
        if not closed[i]:
            volumes[i] = _hull_volume(vertices, shell_faces)
        shells.append(_Shell(vertices, shell_faces, flip=bool(closed[i] and volumes[i] < 0)))
    groups = _join(shells, gap)
    piece_volume: dict[int, float] = {}
    for i in range(n):
        root = groups.find(i)
        piece_volume[root] = piece_volume.get(root, 0.0) + float(volumes[i])
    total = sum(max(v, 0.0) for v in piece_volume.values())
    if total <= 0.0:
        return Pieces(len(piece_volume), 0, 0.0)
    significant = {r for r, v in piece_volume.items() if v >= debris_fraction * total}
    dropped = [v for r, v in piece_volume.items() if r not in significant]
    if not dropped:
        return Pieces(len(significant), 0, 0.0)
    keep_shell = np.array([groups.find(i) in significant for i in range(n)])
    return Pieces(len(significant), len(dropped), float(sum(max(v, 0.0) for v in dropped) / total),
                  keep_shell[labels])


def _join(shells: list[_Shell], gap: float) -> _UnionFind:
    """Union the shells whose solids overlap or come within `gap` of each other."""
    groups = _UnionFind(len(shells))
    lo = np.array([s.lo for s in shells]) - 0.5 * gap
    hi = np.array([s.hi for s in shells]) + 0.5 * gap
    near = np.all((lo[:, None, :] <= hi[None, :, :]) & (lo[None, :, :] <= hi[:, None, :]), axis=2)
    for i, j in zip(*np.nonzero(np.triu(near, k=1)), strict=True):
        if groups.find(int(i)) == groups.find(int(j)):
            continue
        a, b = shells[i].solid(), shells[j].solid()
        if a is not None and b is not None and a.min_gap(b, 2.0 * gap) < gap:
            groups.union(int(i), int(j))  # a shell with no solid (flat) has no volume either
    return groups


def kept_mesh(mesh: trimesh.Trimesh, pieces: Pieces) -> trimesh.Trimesh:
    """`mesh` without its debris (the mesh itself when nothing was dropped)."""
    if pieces.keep is None:
        return mesh
    faces = np.asarray(mesh.faces)[pieces.keep]
    used, inverse = np.unique(faces, return_inverse=True)
    return trimesh.Trimesh(np.asarray(mesh.vertices)[used], inverse.reshape(faces.shape),
                           process=False)
