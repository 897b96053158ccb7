"""The shells of a mesh: its sets of faces connected through shared vertices (docs/oracle.md,
Pieces). `physics.pieces` decides which shells form one piece."""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

from dso.physics.topology import DirectedEdges

# A breadth-first search per shell costs about one pass over the edges in all while the shells
# are few; beyond this many, one components pass over the whole graph is cheaper.
SEARCHED_SHELLS = 8


def shell_labels(faces: np.ndarray, n_vertices: int, edges: DirectedEdges | None = None,
                 searched: int = SEARCHED_SHELLS) -> tuple[int, np.ndarray, np.ndarray]:
    """(number of shells, shell per face, shell per vertex: -1 for vertices no face uses),
    shells numbered by their first face.

    The components of the face-vertex incidence graph (node i < M: face i; node M + j: vertex
    j; an edge from each face to its three corners): its CSR form is the face array itself,
    so nothing is sorted. With a closed mesh's sorted directed `edges` (`topology`), the
    components of that symmetric vertex graph instead, found by a breadth-first search per
    shell while there are at most `searched` (0: one components pass at once); faster at
    10-70k faces (`benchmarks/oracle.py`, section 5).
    """
    f = np.asarray(faces)
    if edges is not None:
        return _vertex_graph_labels(f, n_vertices, edges, searched)
    m, size = len(f), len(f) + n_vertices
    indptr = np.full(size + 1, 3 * m, dtype=np.int32)
    indptr[: m + 1] = np.arange(0, 3 * m + 1, 3, dtype=np.int32)
    corners = f.astype(np.int32).reshape(-1)
    corners += m
    graph = csr_matrix((np.ones(3 * m), corners, indptr), shape=(size, size))
    n, label = connected_components(graph, directed=True, connection="weak")
    used = np.bincount(label[:m], minlength=n) > 0  # unused vertices are components of their own
    remap = np.cumsum(used) - 1
    remap[~used] = -1
    return int(used.sum()), remap[label[:m]], remap[label[m:]]


def _vertex_graph_labels(f: np.ndarray, n_vertices: int, edges: DirectedEdges,
                         searched: int) -> tuple[int, np.ndarray, np.ndarray]:
    """`shell_labels` from the symmetric graph of a closed mesh's directed edges: shell by
    shell while they are few, else its strong components (which are its components); then
    numbered as the incidence graph's are."""
    indptr, indices = edges.csr(n_vertices)
    graph = csr_matrix((np.ones(len(indices)), indices, indptr), shape=(n_vertices, n_vertices))
    found = _searched_labels(graph, indptr[1:] > indptr[:-1], searched)
    if found is None:
        found = connected_components(graph, directed=True, connection="strong")
    k, label = found
    face = label[f[:, 0]]
    if k == 1:  # one shell (the search leaves unused vertices at -1)
        return 1, face, label
    first = np.full(k, len(f))  # each component's first face (len(f): an unused vertex)
    np.minimum.at(first, face, np.arange(len(f)))
    n = int((first < len(f)).sum())
    remap = np.full(k + 1, -1, dtype=np.int64)  # remap[-1] = remap[k]: unused stays unused
    remap[np.argsort(first, kind="stable")[:n]] = np.arange(n)
    return n, remap[face], remap[label]


def _searched_labels(graph: csr_matrix, has_edges: np.ndarray,
                     limit: int = SEARCHED_SHELLS) -> tuple[int, np.ndarray] | None:
    """(number of shells, shell per vertex: -1 for vertices without edges) by a breadth-first
    search from each shell's first vertex; None when there are more than `limit` shells.

    Each search reaches exactly its own shell, so they cost one pass over the edges in all.
    """
    label = np.full(len(has_edges), -1, dtype=np.int64)
    todo = has_edges.copy()
    k, start = 0, 0
    while True:
        if start < len(todo):
            start += int(np.argmax(todo[start:]))  # every vertex before `start` is done
        if start >= len(todo) or not todo[start]:
            return k, label
        if k == limit:
            return None
        reached = breadth_first_order(graph, start, directed=True, return_predecessors=False)
        label[reached] = k
        todo[reached] = False
        k += 1
