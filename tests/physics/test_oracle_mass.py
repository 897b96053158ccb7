"""Exact mass properties (dso.physics.mass) against closed forms and trimesh's own integration."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from dso.physics.mass import (
    face_corners,
    mass_properties,
    moments,
    signed_volumes,
    volume_integrals,
)


def _rotation(seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))  # a proper rotation


def test_a_rotated_box_has_its_closed_form_mass_centre_and_inertia():
    sides, centre, density = np.array([0.3, 0.5, 0.9]), np.array([0.2, -0.1, 0.7]), 800.0
    rotation = _rotation(0)
    box = trimesh.creation.box(extents=sides)
    box = trimesh.Trimesh(box.vertices @ rotation.T + centre, box.faces, process=False)
    props = mass_properties(box, density)
    mass = density * sides.prod()
    body = mass / 12.0 * np.diag([sides[1] ** 2 + sides[2] ** 2, sides[0] ** 2 + sides[2] ** 2,
                                  sides[0] ** 2 + sides[1] ** 2])
    assert props.source == "mesh"
    assert props.mass == pytest.approx(mass, rel=1e-12)
    assert np.allclose(props.com, centre, atol=1e-12)
    assert np.allclose(props.inertia, rotation @ body @ rotation.T, rtol=1e-10, atol=1e-12)


def test_a_non_convex_mesh_matches_trimesh_integration():
    from skimage.measure import marching_cubes

    x = np.linspace(-1.0, 1.0, 40)
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")
    field = np.maximum(0.6 - np.sqrt((X - 0.2) ** 2 + Y**2 + (Z + 0.3) ** 2),
                       np.minimum(0.25 - np.abs(X + 0.3), 0.7 - np.abs(Z)))  # ball + slab
    v, f, _, _ = marching_cubes(np.pad(field, 1, constant_values=-1.0), 0.0)  # closed
    mesh = trimesh.Trimesh(v @ _rotation(1).T, f[:, ::-1], process=False)  # faces outward
    assert mesh.is_watertight and mesh.volume > 0 and len(mesh.faces) > 5000
    props = mass_properties(mesh, 1000.0)
    reference = mesh.copy()
    reference.density = 1000.0
    assert props.mass == pytest.approx(reference.mass, rel=1e-10)
    assert np.allclose(props.com, reference.center_mass, rtol=0, atol=1e-10)
    assert np.allclose(props.inertia, reference.moment_inertia, rtol=1e-9,
                       atol=1e-9 * np.abs(reference.moment_inertia).max())


def test_weighted_moments_are_the_weighted_sums_of_each_part():
    # find_pieces turns shells round (-1) and drops debris (0) by weighting face volumes
    parts = [trimesh.creation.icosphere(2, radius=r).apply_translation(t)
             for r, t in ((0.3, (0, 0, 0)), (0.1, (1, 0, 0)), (0.2, (0, 1, 0.5)))]
    whole = trimesh.util.concatenate(parts)
    label = np.repeat(np.arange(3), [len(p.faces) for p in parts])
    corners = face_corners(whole.vertices, whole.faces)
    weights = np.array([1.0, 0.0, -1.0])
    got = moments(*corners, signed_volumes(*corners) * weights[label])
    expected = sum(w * volume_integrals(p.vertices, p.faces)
                   for w, p in zip(weights, parts, strict=True))
    assert np.allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert got[0] == pytest.approx(parts[0].volume - parts[2].volume, rel=1e-12)
