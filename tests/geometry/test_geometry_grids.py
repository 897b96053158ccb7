"""Voxelisation and marching cubes: round trips, closed outputs, clear errors."""

import numpy as np
import pytest
import trimesh

from dso.geometry import grid_to_mesh, mesh_to_grid, normalize_mesh, voxel_centers


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_voxel_centres_follow_the_shared_convention():
    assert np.allclose(voxel_centers(4), [-0.375, -0.125, 0.125, 0.375])


def test_box_voxelises_to_exactly_the_voxels_whose_centres_are_inside():
    box = trimesh.creation.box(extents=[0.5, 0.3, 0.7])
    occ = mesh_to_grid(box, 32)
    c = voxel_centers(32)
    x, y, z = np.meshgrid(c, c, c, indexing="ij")
    expected = (np.abs(x) < 0.25) & (np.abs(y) < 0.15) & (np.abs(z) < 0.35)
    assert occ.dtype == bool and occ.shape == (32, 32, 32)
    assert (occ == expected).all()


def test_grid_is_indexed_x_y_z():
    box = trimesh.creation.box(extents=[0.2, 0.2, 0.2])
    box.apply_translation([0.3, 0.0, -0.3])  # +x, low z
    occ = mesh_to_grid(box, 16)
    ix, iy, iz = np.nonzero(occ)
    assert ix.min() > 8 and iz.max() < 8 and abs(iy.mean() - 7.5) < 0.01


def test_hollow_and_non_convex_shapes_are_filled_correctly():
    ring = trimesh.creation.annulus(r_min=0.2, r_max=0.4, height=0.3)
    occ = mesh_to_grid(ring, 32)
    c = voxel_centers(32)
    x, y, z = np.meshgrid(c, c, c, indexing="ij")
    r = np.hypot(x, y)
    sure_in = (r > 0.22) & (r < 0.38) & (np.abs(z) < 0.13)
    sure_out = (r < 0.18) | (r > 0.42) | (np.abs(z) > 0.17)
    assert occ[sure_in].all() and not occ[sure_out].any()


def test_random_grids_round_trip_exactly_through_closed_meshes():
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(4, 16))
        occ = rng.random((n, n, n)) < rng.uniform(0.05, 0.95)
        mesh = grid_to_mesh(occ)
        assert mesh.is_watertight and mesh.is_winding_consistent
        assert mesh.volume > 0
        assert (mesh_to_grid(mesh, n) == occ).all()


def test_mesh_grid_mesh_round_trip_keeps_shape():
    mesh = normalize_mesh(trimesh.creation.capsule(height=0.6, radius=0.2))
    occ = mesh_to_grid(mesh, 32)
    back = grid_to_mesh(occ)
    assert back.is_watertight and back.volume > 0
    assert abs(back.volume - mesh.volume) / mesh.volume < 0.1
    assert _iou(mesh_to_grid(back, 32), occ) > 0.97


def test_single_voxel_gives_a_small_closed_mesh_in_unit_cube_coordinates():
    occ = np.zeros((8, 8, 8), dtype=bool)
    occ[0, 0, 0] = True
    mesh = grid_to_mesh(occ)
    assert mesh.is_watertight and mesh.volume > 0
    assert np.allclose(mesh.centroid, [-0.4375] * 3, atol=1e-6)


def test_float_fields_use_the_level():
    field = np.zeros((6, 6, 6), dtype=np.float32)
    field[2:4, 2:4, 2:4] = 3.0
    assert grid_to_mesh(field, level=5.0) is None
    assert grid_to_mesh(field, level=1.0).is_watertight


def test_empty_grid_gives_none_and_bad_input_raises():
    assert grid_to_mesh(np.zeros((8, 8, 8), dtype=bool)) is None
    for shape in ((8, 8), (4, 4, 32)):  # a non-cubic grid would be stretched to the cube
        with pytest.raises(ValueError, match=r"cubic \[R, R, R\] grid"):
            grid_to_mesh(np.ones(shape, dtype=bool))
    with pytest.raises(ValueError, match="NaN"):
        grid_to_mesh(np.full((4, 4, 4), np.nan))
    with pytest.raises(ValueError, match="resolution"):
        mesh_to_grid(trimesh.creation.box(), 0)
    with pytest.raises(TypeError):
        mesh_to_grid(np.zeros((3, 3)), 8)


def test_open_mesh_is_voxelised_by_majority_vote():
    box = trimesh.creation.box(extents=[0.5, 0.5, 0.5])
    holed = box.copy()
    holed.update_faces(np.arange(len(box.faces)) != 0)  # drop one triangle
    assert not holed.is_watertight
    assert _iou(mesh_to_grid(holed, 16), mesh_to_grid(box, 16)) > 0.95


def test_supersampling_keeps_rods_thinner_than_a_voxel():
    rod = trimesh.creation.cylinder(radius=0.012, height=0.8)  # 0.77 voxel wide at 32^3
    # its axis x = y = 0 lies halfway between voxel centres (at +-1/64): no centre is inside
    assert mesh_to_grid(rod, 32).sum() == 0
    kept = mesh_to_grid(rod, 32, supersample=2)
    assert kept[:, :, 4:28].any(axis=(0, 1)).all()  # an unbroken column
    box = trimesh.creation.box(extents=[0.5, 0.5, 0.5])
    fat = mesh_to_grid(box, 16, supersample=2).sum()
    assert mesh_to_grid(box, 16).sum() <= fat <= 10**3
    majority = mesh_to_grid(box, 16, supersample=2, min_fill=0.5)
    assert (majority == mesh_to_grid(box, 16)).all()
    with pytest.raises(ValueError, match="min_fill"):
        mesh_to_grid(box, 16, min_fill=1.0)
