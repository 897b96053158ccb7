"""normalize_mesh puts objects in the unit cube, standing on their lowest point."""

import numpy as np
import pytest
import trimesh

from dso.geometry import normalize_mesh


def test_normalised_mesh_fits_the_unit_cube_and_stands_on_its_lowest_point():
    mesh = trimesh.creation.box(extents=[2.0, 4.0, 1.0])
    mesh.apply_translation([5.0, -3.0, 10.0])
    out = normalize_mesh(mesh, margin=0.02)
    lo, hi = out.bounds
    assert np.isclose((hi - lo).max(), 0.96)
    assert np.isclose(lo[2], -0.48)
    assert np.allclose((lo[:2] + hi[:2]) / 2, 0.0)
    assert (lo >= -0.5).all() and (hi <= 0.5).all()
    assert np.allclose(mesh.bounds[0], [4.0, -5.0, 9.5])  # input untouched


def test_normalise_keeps_shape_and_orientation():
    mesh = trimesh.creation.cone(radius=1.0, height=3.0)
    out = normalize_mesh(mesh)
    assert out.volume > 0
    ratio = out.extents / mesh.extents
    assert np.allclose(ratio, ratio[0])


def test_normalise_rejects_degenerate_input():
    with pytest.raises(ValueError):
        normalize_mesh(trimesh.Trimesh())
    with pytest.raises(ValueError, match="margin"):
        normalize_mesh(trimesh.creation.box(), margin=0.6)
