"""`perturb_deg` (opt-in, `dso check --perturb`): a body balanced in an unstable equilibrium,
which nothing disturbs, falls from a start tilted half a degree; stable bodies still stand."""

import numpy as np
import pytest
import trimesh

from dso.physics import check_mesh
from dso.physics.config import OracleConfig

PERTURBED = OracleConfig.from_preset("accurate", perturb_deg=0.5)


def _balanced(kind: str) -> trimesh.Trimesh:
    cube = trimesh.creation.box((1.0, 1.0, 1.0))
    if kind == "cube on a corner":
        cube.apply_transform(trimesh.geometry.align_vectors([1, 1, 1], [0, 0, 1]))
    elif kind == "cube on an edge":
        cube.apply_transform(trimesh.transformations.rotation_matrix(np.radians(45), [1, 0, 0]))
    else:  # a cone on its tip
        cube = trimesh.creation.cone(radius=0.3, height=1.0, sections=48)
        cube.apply_transform(trimesh.transformations.rotation_matrix(np.pi, [1, 0, 0]))
    return cube


@pytest.mark.parametrize("kind", ["cube on a corner", "cube on an edge", "cone on its tip"])
def test_a_balanced_unstable_body_stands_undisturbed_and_falls_perturbed(kind):
    plain, perturbed = check_mesh(_balanced(kind)), check_mesh(_balanced(kind), config=PERTURBED)
    assert plain.stable is True and plain.perturbed_deg is None  # the documented limitation
    assert perturbed.stable is False and perturbed.reason == "perturbed"
    assert perturbed.verdict == "FALLS" and perturbed.perturbed_deg > 40.0
    assert perturbed.tilt_deg == plain.tilt_deg  # the upright roll-out itself is unchanged


def test_stable_bodies_still_stand_perturbed():
    side = trimesh.creation.cylinder(radius=0.2, height=1.0)  # lying on its side: neutral
    side.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    arc = np.linspace(-np.pi / 2, 0.0, 24)  # a hemisphere, dome down: its profile revolved
    profile = np.column_stack([np.r_[0.5 * np.cos(arc), 0.0], np.r_[0.5 * np.sin(arc), 0.0]])
    dome = trimesh.creation.revolve(profile, sections=48)
    for mesh in (side, dome, trimesh.creation.box((0.2, 0.2, 1.0))):
        result = check_mesh(mesh, config=PERTURBED)
        assert result.status == "ok" and result.stable is True, result
        if result.stop_reason != "static":  # the static stop's margin covers the starts
            assert result.perturbed_deg < 10.0  # the cylinder may roll onto its next facet


def test_perturb_is_bounded_by_the_static_stops_margin():
    with pytest.raises(ValueError, match="perturb_deg must be in"):
        OracleConfig.from_preset("accurate", perturb_deg=3.0)
