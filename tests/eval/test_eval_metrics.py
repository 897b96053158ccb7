"""Geometry metrics on real meshes whose answers can be worked out by hand."""

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from dso.eval.metrics import (
    chamfer_fscore,
    chamfer_points,
    icp_align,
    normalize_unit_cube,
    prepare_target,
    surface_points,
)


def _tall_l_shape() -> trimesh.Trimesh:
    """An asymmetric object, tallest along z (so a turn about z keeps its unit-cube scale)."""
    post = trimesh.creation.box((0.4, 0.3, 1.0))
    arm = trimesh.creation.box((0.3, 0.1, 0.1))
    arm.apply_translation([0.3, 0.0, 0.3])
    return trimesh.util.concatenate([post, arm])


def _turned(mesh: trimesh.Trimesh, deg: float, shift) -> trimesh.Trimesh:
    out = mesh.copy()
    out.apply_transform(_rigid(deg, shift))
    return out


def _rigid(deg: float, shift) -> np.ndarray:
    t = np.eye(4)
    t[:3, :3] = Rotation.from_euler("z", deg, degrees=True).as_matrix()
    t[:3, 3] = shift
    return t


def _unit_directions(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_normalize_unit_cube_longest_side_is_one_and_centred():
    box = trimesh.creation.box((2.0, 4.0, 1.0))
    box.apply_translation([5.0, -3.0, 7.0])
    out = normalize_unit_cube(box)
    lo, hi = out.bounds
    np.testing.assert_allclose(hi - lo, [0.5, 1.0, 0.25], atol=1e-12)
    np.testing.assert_allclose((lo + hi) / 2, 0.0, atol=1e-12)
    np.testing.assert_allclose(box.bounds[1] - box.bounds[0], [2.0, 4.0, 1.0])  # input untouched


def test_concentric_point_spheres_give_radius_gap():
    """r1*u vs r2*u: each point's nearest neighbour is its own radial partner, at |r1-r2|."""
    u = _unit_directions(4000)
    cd, f = chamfer_points(0.40 * u, 0.43 * u, threshold=0.05)
    assert cd == pytest.approx(0.03, abs=1e-12)
    assert f == 100.0
    cd, f = chamfer_points(0.40 * u, 0.47 * u, threshold=0.05)
    assert cd == pytest.approx(0.07, abs=1e-12)
    assert f == 0.0


def test_fscore_threshold_is_strict_and_mixes_precision_recall():
    gt = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    pred = np.array([[0.0, 0.0, 0.04], [0.0, 0.0, 0.06], [0.0, 0.0, 0.5]])
    # pred -> gt distances 0.04, 0.06, 0.5: precision 1/3; gt -> pred: 0.04, ~1.0: recall 1/2
    _, f = chamfer_points(pred, gt, threshold=0.05)
    assert f == pytest.approx(100 * 2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    _, f_wide = chamfer_points(pred, gt, threshold=0.07)  # precision 2/3, recall 1/2
    assert f_wide == pytest.approx(100 * 2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2))
    _, f_on = chamfer_points(pred, gt, threshold=0.04)  # 0.04 is not < 0.04: nothing matches
    assert f_on == 0.0


def test_mesh_with_itself_is_at_the_sampling_floor_and_f_100():
    mesh = _tall_l_shape()
    cd, f = chamfer_fscore(mesh, mesh)
    assert 0.0 < cd < 0.012  # independent 10k samplings of a unit-cube surface
    assert f == 100.0


def test_sphere_against_sphere_plus_inner_shell():
    """gt = spheres r=0.5 and r=0.25 (area share 1/5 inside); pred = the outer sphere alone.

    Every pred point lies on the outer shell (precision 1); the inner 1/5 of gt is 0.25 away
    (recall 0.8, F = 88.9); Chamfer = (0 + 0.2 * 0.25) / 2 = 0.025 plus the sampling floor.
    """
    outer = trimesh.creation.icosphere(subdivisions=5, radius=0.5)
    inner = trimesh.creation.icosphere(subdivisions=5, radius=0.25)
    gt = trimesh.util.concatenate([outer, inner])
    cd, f = chamfer_fscore(outer, gt)
    assert f == pytest.approx(100 * 2 * 0.8 / 1.8, abs=1.0)
    assert 0.025 < cd < 0.025 + 0.012


def test_icp_recovers_a_turned_and_shifted_copy():
    gt = _tall_l_shape()
    pred = _turned(gt, 12.0, [0.05, 0.02, 0.0])
    cd_raw, f_raw = chamfer_fscore(pred, gt, icp=False)
    cd, f = chamfer_fscore(pred, gt)
    cd_self, _ = chamfer_fscore(gt, gt)
    assert cd_raw > 2 * cd_self
    assert cd == pytest.approx(cd_self, abs=0.002)
    assert f == 100.0 and f_raw < 100.0


def test_icp_align_returns_the_inverse_transform():
    target = surface_points(_tall_l_shape(), 4000, seed=3)
    truth = _rigid(10.0, [0.03, -0.02, 0.01])
    source = target @ truth[:3, :3].T + truth[:3, 3]
    transform, moved = icp_align(source, target, "dso-v1", tolerance=1e-9, max_iterations=100)
    np.testing.assert_allclose(transform @ truth, np.eye(4), atol=1e-6)
    np.testing.assert_allclose(moved, target, atol=1e-6)
    assert np.isclose(np.linalg.det(transform[:3, :3]), 1.0)


def test_deterministic_for_a_seed_and_prepared_target_matches():
    gt = _tall_l_shape()
    pred = _turned(gt, 5.0, [0.0, 0.01, 0.0])
    first = chamfer_fscore(pred, gt, seed=7)
    assert chamfer_fscore(pred, gt, seed=7) == first
    assert chamfer_fscore(pred, prepare_target(gt, seed=7), seed=7) == first
    assert chamfer_fscore(pred, gt, seed=8) != first


@pytest.mark.parametrize(
    "bad",
    [
        trimesh.Trimesh(vertices=np.zeros((0, 3)), faces=np.zeros((0, 3), dtype=int)),
        trimesh.Trimesh(vertices=[[0, 0, 0], [1, 0, 0], [2, 0, 0]], faces=[[0, 1, 2]]),
    ],
)
def test_broken_meshes_raise_value_error(bad):
    with pytest.raises(ValueError):
        chamfer_fscore(bad, _tall_l_shape())


def test_a_mesh_with_a_nan_vertex_is_reported_as_such():
    from dso.eval.metrics import surface_points

    mesh = trimesh.creation.box()
    mesh.vertices[0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite vertices"):
        surface_points(mesh, 100, seed=0)
