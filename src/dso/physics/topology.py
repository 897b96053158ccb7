"""Whether a triangle soup bounds a solid: the condition for exact volume integration."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLOSED_KEY = "dso_closed_oriented"  # Trimesh.metadata key set by loading.prepare
EDGES_KEY = "dso_directed_edges"  # Trimesh.metadata: the closed mesh's DirectedEdges


@dataclass(frozen=True)
class DirectedEdges:
    """Every face's directed edges (a, b) as keys a << shift | b, sorted: for each vertex in
    turn, the vertices its faces lead to. On a closed, consistently oriented mesh this is the
    symmetric vertex graph, in CSR order (`physics.pieces` finds the shells from it)."""

    keys: np.ndarray
    shift: int

    def csr(self, n_vertices: int) -> tuple[np.ndarray, np.ndarray]:
        """(indptr, indices) of the graph from each vertex to those its edges lead to, every
        neighbour once: edges that several faces share (non-manifold ones) would be repeated
        entries, on which scipy's strong components never return (scipy 1.17)."""
        keys, t = self.keys, self.keys.dtype.type
        repeated = keys[1:] == keys[:-1]
        if repeated.any():
            keys = keys[np.concatenate([[True], ~repeated])]
        source = keys >> t(self.shift)
        starts = np.flatnonzero(source[1:] != source[:-1]) + 1  # where each row begins
        if len(starts) + 1 == n_vertices:  # every vertex leads somewhere: ~2x a bincount
            indptr = np.concatenate([[0], starts, [len(keys)]]).astype(np.int32)
        else:
            indptr = np.zeros(n_vertices + 1, dtype=np.int32)
            np.cumsum(np.bincount(source, minlength=n_vertices), out=indptr[1:])
        return indptr, (keys & t((1 << self.shift) - 1)).astype(np.int32)


def closed_oriented_edges(faces: np.ndarray) -> DirectedEdges | None:
    """The sorted directed edges when every directed edge (a, b) is balanced by a reverse edge
    (b, a), else None.

    Balance is exactly the condition under which the divergence theorem gives the enclosed
    volume, and it admits non-manifold edges (e.g. two cubes sharing an edge), unlike
    `is_watertight`.
    """
    f = np.asarray(faces, dtype=np.int64)
    if len(f) == 0:
        return None
    shift = max(1, int(f.max()).bit_length())
    nxt = np.empty_like(f)  # each corner's successor: the edges are (f[:, k], nxt[:, k])
    nxt[:, :2], nxt[:, 2] = f[:, 1:], f[:, 0]
    # 32-bit keys while they fit (numpy sorts those twice as fast)
    key = np.uint32 if 2 * shift <= 32 else np.uint64
    a, b = f.reshape(-1).astype(key), nxt.reshape(-1).astype(key)
    # the directed edges, as a sorted multiset, equal the reversed ones (two sorts: no unique)
    edges, reverse = a << key(shift), b << key(shift)
    edges |= b
    reverse |= a
    edges.sort()
    reverse.sort()
    return DirectedEdges(edges, shift) if np.array_equal(edges, reverse) else None


def is_closed_oriented(faces: np.ndarray) -> bool:
    """True when every directed edge (a, b) is balanced by a reverse edge (b, a)
    (`closed_oriented_edges`)."""
    return closed_oriented_edges(faces) is not None
