"""ICP protocols: the release's capped fit ("paper") against dso's first one ("dso-v1")."""

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from dso.eval.icp import PROTOCOLS, IcpSettings, icp_fit, icp_settings
from dso.eval.metrics import chamfer_fscore, prepare_target, surface_points


def _tall_l_shape() -> trimesh.Trimesh:
    post = trimesh.creation.box((0.4, 0.3, 1.0))
    arm = trimesh.creation.box((0.3, 0.1, 0.1))
    arm.apply_translation([0.3, 0.0, 0.3])
    return trimesh.util.concatenate([post, arm])


def _with_base_plate(mesh: trimesh.Trimesh, thickness: float = 0.01) -> trimesh.Trimesh:
    """`mesh` plus a thin plate under its whole footprint, inside its bounding box (so the
    unit-cube normalisation of both is the same and the right alignment is the identity)."""
    lo, hi = mesh.bounds
    plate = trimesh.creation.box((hi[0] - lo[0], hi[1] - lo[1], thickness))
    plate.apply_translation([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2] + thickness / 2])
    return trimesh.util.concatenate([mesh, plate])


def _angle_deg(transform: np.ndarray) -> float:
    return float(np.degrees(Rotation.from_matrix(transform[:3, :3]).magnitude()))


def test_protocols_are_the_release_and_dso_v1():
    paper, v1 = icp_settings("paper"), icp_settings("dso-v1")
    assert (paper.max_correspondence, paper.max_iterations, paper.fit_count(10000)) == (
        0.02, 50, 10000)
    assert (paper.relative_fitness, paper.relative_rmse) == (1e-6, 1e-6)
    assert v1.max_correspondence is None and v1.fit_count(10000) == 1000
    assert v1.fit_count(2000) == 500 and v1.tolerance == 1e-5
    assert icp_settings(paper) is paper and set(PROTOCOLS) == {"paper", "dso-v1"}
    with pytest.raises(ValueError, match="protocol"):
        icp_settings("open3d")
    with pytest.raises(ValueError):
        IcpSettings(max_correspondence=0.02, tolerance=1e-5)


def test_capped_icp_ignores_an_extra_base_plate_uncapped_one_shifts():
    gt = _tall_l_shape()
    pred = _with_base_plate(gt)
    np.testing.assert_allclose(pred.bounds, gt.bounds)  # same unit cube: identity is right
    target = prepare_target(gt, n_points=10000)
    points = surface_points(pred, 10000, seed=0)
    paper = icp_fit(points, target.tree, "paper", workers=1)
    v1 = icp_fit(points[: PROTOCOLS["dso-v1"].fit_count(len(points))], target.tree, "dso-v1",
                 workers=1)
    # the plate's points farther than 0.02 from the object are left out: identity kept
    assert np.linalg.norm(paper.transform[:3, 3]) < 0.003 and _angle_deg(paper.transform) < 0.2
    assert 0.5 < paper.fitness < 1.0  # the plate is not paired, the object is
    # pairing every point, the plate pulls the prediction towards the post
    assert np.linalg.norm(v1.transform[:3, 3]) > 0.005 and _angle_deg(v1.transform) > 1.0
    assert v1.fitness == 1.0


@pytest.mark.parametrize("protocol", ["paper", "dso-v1"])
def test_a_small_rotation_and_translation_is_recovered(protocol):
    target = surface_points(_tall_l_shape(), 4000, seed=3)
    truth = np.eye(4)
    axis = np.array([1.0, 2.0, 2.0]) / 3
    truth[:3, :3] = Rotation.from_rotvec(np.radians(3.0) * axis).as_matrix()
    truth[:3, 3] = [0.01, -0.008, 0.005]
    source = target @ truth[:3, :3].T + truth[:3, 3]
    cfg = icp_settings(protocol)
    if protocol == "dso-v1":  # fit on every point, to exhaustion
        cfg = IcpSettings(max_correspondence=None, max_iterations=200, tolerance=1e-12)
    result = icp_fit(source, target, cfg, workers=1)
    np.testing.assert_allclose(result.transform @ truth, np.eye(4), atol=1e-6)
    assert result.iterations > 1 and np.isclose(np.linalg.det(result.transform[:3, :3]), 1.0)
    if protocol == "paper":
        assert result.fitness == 1.0 and result.inlier_rmse < 1e-6


def test_mesh_level_alignment_and_protocol_choice_in_chamfer_fscore():
    gt = _tall_l_shape()
    turned = gt.copy()
    turned.apply_transform(trimesh.transformations.rotation_matrix(np.radians(10), [0, 0, 1]))
    cd_self, _ = chamfer_fscore(gt, gt, n_points=4000, workers=1)
    cd_raw, _ = chamfer_fscore(turned, gt, n_points=4000, icp=False, workers=1)
    for protocol in ("paper", "dso-v1"):
        cd, f = chamfer_fscore(turned, gt, n_points=4000, workers=1, protocol=protocol)
        assert cd == pytest.approx(cd_self, abs=0.001) and f == 100.0 and cd_raw > 1.5 * cd
    plated = _with_base_plate(gt)
    paper = chamfer_fscore(plated, gt, n_points=4000, workers=1)
    v1 = chamfer_fscore(plated, gt, n_points=4000, workers=1, protocol="dso-v1")
    assert paper != v1  # the protocols align the plated prediction differently
