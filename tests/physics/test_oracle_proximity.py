"""Exact distances between triangles and between surfaces (dso.physics.proximity), against
dense sampling and manifold3d."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from dso.physics.proximity import segment_distances, surface_gap, triangle_distances


def _sampled_segments(p1, q1, p2, q2, n=801):
    s = np.linspace(0.0, 1.0, n)[:, None]
    a, b = p1 + s * (q1 - p1), p2 + s * (q2 - p2)
    return float(np.sqrt(((a[:, None] - b[None]) ** 2).sum(axis=2)).min())


def test_segment_distances_match_dense_sampling():
    rng = np.random.default_rng(0)
    rows = [rng.normal(size=(4, 3)) for _ in range(40)]
    rows.append(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], float))  # parallel
    rows.append(np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]], float))  # collinear
    rows.append(np.array([[0.5, 1, 0], [0.5, 1, 0], [0, 0, 0], [1, 0, 0]], float))  # a point
    rows.append(np.array([[0, 0, 0], [1, 0, 0], [0.5, 2, 0], [0.5, 2, 0]], float))  # a point
    rows.append(np.array([[0, 0, 0], [0, 0, 0], [0, 3, 4], [0, 3, 4]], float))  # two points
    rows.append(np.array([[-1, 0, 0], [1, 0, 0], [0, -1, 0.2], [0, 1, 0.2]], float))  # crossing
    p1, q1, p2, q2 = (np.array([r[k] for r in rows]) for k in range(4))
    exact = segment_distances(p1, q1, p2, q2)
    sampled = np.array([_sampled_segments(*r) for r in rows])
    assert np.all(exact <= sampled + 1e-12)  # the exact least distance is never above a sample
    np.testing.assert_allclose(exact, sampled, atol=5e-3)
    assert exact[-1] == pytest.approx(0.2) and exact[-2] == pytest.approx(5.0)


def _sampled_triangles(ta, tb, n=40):
    """Least distance by points densely sampled on each triangle to the other (exactly)."""
    u, v = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n))
    keep = u + v <= 1.0
    w = np.stack([1 - u[keep] - v[keep], u[keep], v[keep]], axis=1)
    best = np.inf
    for x, y in ((ta, tb), (tb, ta)):
        points = w @ x
        closest = trimesh.triangles.closest_point(np.repeat(y[None], len(points), 0), points)
        best = min(best, float(np.sqrt(((closest - points) ** 2).sum(axis=1)).min()))
    return best


def test_triangle_distances_match_sampling_including_piercing_triangles():
    rng = np.random.default_rng(1)
    ta = rng.normal(size=(60, 3, 3))
    tb = rng.normal(size=(60, 3, 3)) + rng.uniform(0, 2, size=(60, 1, 3))
    # one triangle through another's middle: their corners and edges are all far apart
    ta[0] = [[-1, -1, 0], [2, -1, 0], [-1, 2, 0]]
    tb[0] = [[0, 0, -1], [0.2, 0, 1], [0, 0.2, 1]]
    exact = triangle_distances(ta, tb)
    sampled = np.array([_sampled_triangles(a, b) for a, b in zip(ta, tb, strict=True)])
    assert exact[0] == pytest.approx(0.0, abs=1e-12)
    assert np.all(exact <= sampled + 1e-9)
    assert np.all(sampled - exact < 0.06 * np.maximum(1.0, sampled))  # sampling's own error
    assert (exact < 1e-9).sum() > 1  # random pairs that intersect were found too


@pytest.mark.parametrize("offset", [0.004, 0.0099, 0.0101, 0.03])
def test_surface_gap_equals_manifold_min_gap(offset):
    from manifold3d import Manifold, Mesh

    a = trimesh.creation.icosphere(2, radius=0.2)
    b = trimesh.creation.box((0.3, 0.3, 0.3))
    turn = trimesh.transformations.rotation_matrix(0.3, [1, 1, 0])
    b.apply_transform(turn)
    tip, corner = a.vertices[a.vertices[:, 0].argmax()], b.vertices[b.vertices[:, 0].argmin()]
    b.apply_translation(tip + [offset, 0.0, 0.0] - corner)  # b's corner just off a's tip
    solids = [Manifold(Mesh(vert_properties=np.asarray(m.vertices, np.float32),
                            tri_verts=np.asarray(m.faces, np.uint32))) for m in (a, b)]
    reference = solids[0].min_gap(solids[1], 0.1)
    gap = surface_gap(a.triangles, b.triangles, 0.05)
    assert gap == pytest.approx(reference, abs=1e-6)
    assert surface_gap(a.triangles, b.triangles, reference / 2) >= reference / 2  # a bound


def _solid_angle_winding(point, triangles):
    """The reference: the solid angles the triangles subtend at `point`, over 4 pi (Van
    Oosterom and Strackee's formula)."""
    x = triangles - point
    a, b, c = x[:, 0], x[:, 1], x[:, 2]
    la, lb, lc = (np.linalg.norm(v, axis=1) for v in (a, b, c))
    det = np.einsum("ij,ij->i", a, np.cross(b, c))
    div = (la * lb * lc + (a * b).sum(axis=1) * lc + (b * c).sum(axis=1) * la
           + (c * a).sum(axis=1) * lb)
    return float(2.0 * np.arctan2(det, div).sum() / (4.0 * np.pi))


def _lattice_solid():
    """Marching cubes of a voxel solid with a hole and an overhang: its vertices lie on a
    lattice, so planes through a vertex meet many others exactly."""
    from dso.geometry import grid_to_mesh

    occ = np.zeros((12, 12, 12), dtype=bool)
    occ[2:10, 2:10, 2:5] = True
    occ[4:8, 4:8, 2:5] = False  # a hole through the slab
    occ[2:4, 2:10, 5:10] = True  # a wall
    occ[2:10, 2:4, 8:10] = True  # an overhang from it
    return grid_to_mesh(occ)


@pytest.mark.parametrize("shape", ["sphere", "L", "lattice", "two cubes sharing an edge"])
def test_winding_number_matches_solid_angles(shape):
    from dso.physics.proximity import winding_number

    if shape == "sphere":
        mesh = trimesh.creation.icosphere(2, radius=0.3)
    elif shape == "L":
        mesh = trimesh.creation.box((0.6, 0.2, 0.6)).difference(
            trimesh.creation.box((0.4, 0.4, 0.4)).apply_translation([0.1, 0, 0.1]),
            engine="manifold")
    elif shape == "lattice":
        mesh = _lattice_solid()
    else:  # closed and consistently oriented, though the shared edge is not manifold
        a = trimesh.creation.box((0.3, 0.3, 0.3)).apply_translation([-0.15, -0.15, 0.0])
        b = trimesh.creation.box((0.3, 0.3, 0.3)).apply_translation([0.15, 0.15, 0.0])
        mesh = trimesh.util.concatenate([a, b])
        mesh.merge_vertices()
    v = np.asarray(mesh.vertices)
    v = (v - v.mean(axis=0)) / np.ptp(v, axis=0).max()
    mesh = trimesh.Trimesh(v, mesh.faces, process=False)
    rng = np.random.default_rng(2)
    points = rng.uniform(-0.5, 0.5, size=(150, 3))
    points[:60, 0] = v[rng.integers(0, len(v), 60), 0]  # on planes through vertices
    points[:30, 1] = v[rng.integers(0, len(v), 30), 1]
    points = points[trimesh.proximity.closest_point(mesh, points)[1] > 0.01]  # off the surface
    inside = 0
    for point in points:
        reference = _solid_angle_winding(point, mesh.triangles)
        assert round(reference) in (0, 1)
        inside += round(reference)
        assert winding_number(point, v, mesh.faces) == pytest.approx(reference, abs=1e-9)
        assert winding_number(point, v, mesh.faces[:, ::-1]) == pytest.approx(-reference, abs=1e-9)
    assert 0 < inside < len(points) - 5  # points on both sides


def test_winding_number_is_nan_where_a_non_finite_corner_reaches_it():
    from dso.physics.proximity import winding_number

    mesh = trimesh.creation.icosphere(1)
    v, f = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    assert np.isnan(winding_number(np.array([np.nan, 0.0, 0.0]), v, f))
    top = int(v[:, 0].argmax())
    ring = np.unique(f[(f == top).any(axis=1)])
    ring = ring[ring != top]
    # planes just above and just below the ring of faces round the highest vertex: `top` is
    # above both, so the first crosses those faces and the second does not
    above_ring = 0.5 * (v[top, 0] + v[ring, 0].max())
    below_ring = v[ring, 0].min() - 1e-6
    for x in (above_ring, below_ring):
        assert winding_number(np.array([x, 0.0, 0.0]), v, f) == pytest.approx(1.0)
    for bad, x, reaches in (([np.inf, 0, 0], above_ring, True), (np.inf, above_ring, True),
                            (np.nan, below_ring, True), (-np.inf, below_ring, True),
                            (np.inf, below_ring, False)):  # still above, crossing nothing
        broken = v.copy()
        broken[top] = v[top] + bad if np.ndim(bad) else bad
        w = winding_number(np.array([x, 0.0, 0.0]), broken, f)
        assert np.isnan(w) if reaches else w == pytest.approx(1.0)


def test_one_large_face_makes_surface_gap_defer_rather_than_pair_everything():
    # the candidate radius grows with the largest face: with one face as large as the object
    # among thousands of small ones the pairs are counted, not built, and the caller is told
    rng = np.random.default_rng(4)
    small = rng.uniform(0.0, 1.0, size=(3000, 1, 3)) + rng.normal(0, 0.01, size=(3000, 3, 3))
    large = np.array([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    ta = np.concatenate([small, large])
    tb = np.concatenate([small + [0.0, 0.0, 2.0], large + [0.0, 0.0, 2.0]])
    assert surface_gap(ta, tb, 0.01) is None
    assert surface_gap(ta[:20], tb[-1:], 0.01) == np.inf  # few pairs: measured, all far



def test_a_needle_face_does_not_pull_a_shell_closer():
    # a box with one edge split 1e-13 from its end (a needle face, whose plane is noise) and a
    # tetrahedron whose tip is 0.0131 off the box: the faces are 0.0131 apart, as manifold3d
    # says (trimesh's closest point on the needle fell off it and gave 0.0035)
    rotation = np.array([[-0.5751180151340817, -0.7046828673831428, 0.41552536033906073],
                         [-0.20298475920967873, -0.36912634586433557, -0.906941524199566],
                         [0.7924875116977068, -0.6059437244542722, 0.06925132921223996]])
    box = trimesh.creation.box((0.3, 0.3, 0.3))
    v, faces = np.asarray(box.vertices, float) @ rotation.T, np.asarray(box.faces).tolist()
    u, w = faces[0][0], faces[0][1]
    v = np.vstack([v, v[u] + 1.0852491301875894e-13 * (v[w] - v[u]) / np.linalg.norm(v[w] - v[u])])
    split = []
    for f in faces:
        for j in range(3):
            a, b, c = f[j], f[(j + 1) % 3], f[(j + 2) % 3]
            if {a, b} == {u, w}:
                split += [[a, len(v) - 1, c], [len(v) - 1, b, c]]
                break
        else:
            split.append(f)
    tip = np.array([0.26340134814531996, -0.0390871355764027, -0.015758714609513984])
    d = tip / np.linalg.norm(tip)
    e1 = np.cross(d, [0.3, 0.5, 0.7])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(d, e1)
    base = [tip + 0.05 * d + 0.02 * (np.cos(t) * e1 + np.sin(t) * e2) for t in (0, 2.1, 4.2)]
    tetra = np.array([tip, *base])[[[0, 1, 2], [0, 2, 3], [0, 3, 1], [1, 3, 2]]]
    gap = surface_gap(v[np.array(split)], tetra, 0.05)
    assert gap == pytest.approx(0.013112122245831472, abs=1e-9)
