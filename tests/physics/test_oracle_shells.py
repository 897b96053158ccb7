"""Shells: the connected surfaces a mesh is made of (dso.physics.shells), from the
face-vertex incidence graph and from a closed mesh's sorted directed edges
(dso.physics.topology), against trimesh's own split."""

import numpy as np
import pytest
import trimesh


def test_shells_and_their_extents_match_trimesh():
    # shell labels from the face-vertex graph and each shell's box and longest edge, against
    # trimesh's own split; an unused vertex in the middle gets no shell
    from dso.physics.mass import face_corners
    from dso.physics.pieces import _shell_boxes, _split
    from dso.physics.shells import shell_labels

    parts = [trimesh.creation.icosphere(1, radius=0.2), trimesh.creation.box((0.3, 0.2, 0.4)),
             trimesh.creation.cylinder(0.1, 0.3)]
    for k, part in enumerate(parts):
        part.apply_translation([0.6 * k, 0.0, 0.0])
    mesh = trimesh.util.concatenate(parts)
    v = np.insert(np.asarray(mesh.vertices), 5, [9.0, 9.0, 9.0], axis=0)
    f = np.asarray(mesh.faces) + (np.asarray(mesh.faces) >= 5)
    n, face_label, vertex_label = shell_labels(f, len(v))
    assert n == 3 and vertex_label[5] == -1
    assert sorted(np.bincount(face_label).tolist()) == sorted(len(p.faces) for p in parts)
    boxes = _shell_boxes(v, vertex_label, n)
    corners = face_corners(v - 0.3, f)  # edge lengths do not depend on the frame
    for vertices, faces, lo, hi, edge in _split(v, f, face_label, n, boxes, corners):
        shell = trimesh.Trimesh(vertices, faces, process=False)
        part = min(parts, key=lambda p: np.abs(p.bounds[0] - lo).sum())
        assert np.array_equal(lo, shell.bounds[0]) and np.array_equal(hi, shell.bounds[1])
        np.testing.assert_allclose(lo, part.bounds[0])
        assert edge == pytest.approx(part.edges_unique_length.max(), rel=1e-12)


@pytest.mark.parametrize("case", ["shells interleaved", "cubes sharing an edge", "unused vertex",
                                  "large indices", "one shell", "more shells than searched"])
def test_shells_from_a_closed_meshs_edges_equal_the_incidence_graphs(case):
    # the symmetric vertex graph of a closed mesh's directed edges (what loading.prepare keeps)
    # gives the same shells, numbered alike; edges that several faces share are listed once
    # (scipy's strong components never return on repeated entries); beyond SEARCHED_SHELLS
    # shells the search gives way to one components pass, with the same result
    from scipy.sparse import csr_matrix

    from dso.physics.shells import SEARCHED_SHELLS, _searched_labels, shell_labels
    from dso.physics.topology import closed_oriented_edges

    rng = np.random.default_rng(3)
    count = {"one shell": 1, "more shells than searched": SEARCHED_SHELLS + 3}.get(case, 4)
    parts = [trimesh.creation.icosphere(1, radius=0.2).apply_translation([0.6 * k, 0, 0])
             for k in range(count)]
    if case == "cubes sharing an edge":
        parts = [trimesh.creation.box((0.3, 0.3, 0.3)).apply_translation(t)
                 for t in ([0, 0, 0], [0.3, 0.3, 0.0], [2, 0, 0])]
    mesh = trimesh.util.concatenate(parts)
    mesh.merge_vertices()
    v, f = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    f = f[rng.permutation(len(f))]  # shells interleaved in face order
    if case == "unused vertex":
        v = np.insert(v, 5, [9.0, 9.0, 9.0], axis=0)
        f = f + (f >= 5)
    if case == "large indices":  # 64-bit keys: more than 2^16 vertices
        v = np.concatenate([v, np.zeros((70_000, 3))])
        f = f + 70_000
    edges = closed_oriented_edges(f)
    assert edges is not None
    indptr, indices = edges.csr(len(v))
    rows = np.repeat(np.arange(len(v)), np.diff(indptr))
    pairs = set(zip(rows.tolist(), indices.tolist(), strict=True))
    assert len(pairs) == len(indices)  # every neighbour once
    assert pairs == {(a, b) for a, b in pairs if (b, a) in pairs}  # symmetric
    graph = csr_matrix((np.ones(len(indices)), indices, indptr), shape=(len(v), len(v)))
    searched = _searched_labels(graph, np.diff(indptr) > 0)
    assert (searched is None) == (case == "more shells than searched")
    expected = shell_labels(f, len(v))
    got = shell_labels(f, len(v), edges)
    assert got[0] == expected[0] == (2 if case == "cubes sharing an edge" else len(parts))
    assert np.array_equal(got[1], expected[1]) and np.array_equal(got[2], expected[2])
    components = shell_labels(f, len(v), edges, searched=0)  # no search: components at once
    assert components[0] == got[0] and all(np.array_equal(x, y) for x, y in
                                           zip(components[1:], got[1:], strict=True))
    if case == "cubes sharing an edge":
        assert (edges.keys[1:] == edges.keys[:-1]).any()  # the repeated entries are there
