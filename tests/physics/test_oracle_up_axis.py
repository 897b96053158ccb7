"""y-up input is rotated to z-up, never mirrored: a chiral object keeps its handedness, its mass
stays positive, and its verdict equals the z-up copy's."""

import numpy as np
import pytest
import trimesh

from dso.physics import OracleConfig, check_many, check_mesh
from dso.physics.grid import Grid
from dso.physics.loading import Y_UP_TO_Z_UP, prepare, resolve_up
from dso.physics.mass import mass_properties
from tests.physics.oracle_shapes import mesh_of

# A base, a corner column and two arms of different lengths at different heights: no mirror
# symmetry, so a mirror image cannot be rotated back onto it.
CHIRAL = [
    ((0.0, 0.0, 0.05), (0.6, 0.5, 0.1)),
    ((-0.25, -0.2, 0.5), (0.1, 0.1, 0.8)),
    ((0.0, -0.2, 0.85), (0.4, 0.1, 0.1)),
    ((-0.25, 0.05, 0.55), (0.1, 0.4, 0.1)),
]


def _handedness(vertices: np.ndarray) -> float:
    """Sign of the triple product of the arms' directions (x arm, y arm, column)."""
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    centre = (lo + hi) / 2
    x_arm = vertices[np.argmax(vertices[:, 0])] - centre
    y_arm = vertices[np.argmax(vertices[:, 1])] - centre
    top = vertices[np.argmax(vertices[:, 2])] - centre
    return float(np.sign(np.dot(np.cross(x_arm, y_arm), top)))


@pytest.fixture(scope="module")
def z_up():
    return mesh_of(CHIRAL)


@pytest.fixture(scope="module")
def y_up(z_up):
    # The same object authored y-up: apply the inverse of the y-up -> z-up rotation.
    return trimesh.Trimesh(z_up.vertices @ Y_UP_TO_Z_UP, z_up.faces, process=False)


def test_the_rotation_is_proper():
    assert np.linalg.det(Y_UP_TO_Z_UP) == pytest.approx(1.0)
    assert Y_UP_TO_Z_UP @ np.array([0.0, 1.0, 0.0]) == pytest.approx([0.0, 0.0, 1.0])


def test_y_up_input_becomes_the_z_up_object_not_its_mirror(z_up, y_up):
    from_z, _ = prepare(z_up, "z")
    from_y, _ = prepare(y_up, "y")
    assert np.allclose(from_y.vertices, from_z.vertices, atol=1e-9)
    assert _handedness(from_y.vertices) == _handedness(from_z.vertices)
    # What the original release did (swap y and z) gives the mirror image: other handedness.
    swapped = trimesh.Trimesh(y_up.vertices[:, [0, 2, 1]], y_up.faces, process=False)
    mirrored, _ = prepare(swapped, "z")
    assert _handedness(mirrored.vertices) == -_handedness(from_z.vertices)


def test_mass_stays_positive_and_exact(z_up, y_up):
    from_y, _ = prepare(y_up, "y")
    props = mass_properties(from_y)
    assert props.source == "mesh" and props.mass > 0
    assert np.all(np.linalg.eigvalsh(props.inertia) > 0)
    exact = mass_properties(prepare(z_up, "z")[0])
    assert props.mass == pytest.approx(exact.mass, rel=1e-9)
    assert props.com == pytest.approx(exact.com, abs=1e-9)


def test_verdict_equals_the_z_up_copy(z_up, y_up):
    a, b = check_mesh(z_up, up="z"), check_mesh(y_up, up="y")
    assert a.status == b.status == "ok"
    assert a.stable == b.stable
    assert a.tilt_deg == pytest.approx(b.tilt_deg, abs=1e-6)
    assert a.topple_angle_deg == pytest.approx(b.topple_angle_deg, abs=1e-6)
    # Read with the wrong up axis it is a different problem (lying on its side).
    assert check_mesh(y_up, up="z").topple_angle_deg != pytest.approx(a.topple_angle_deg)


def test_auto_is_the_default_and_resolves_per_input(tmp_path):
    assert OracleConfig().up == OracleConfig.from_preset("dso").up == "auto"
    for name in ("a.glb", "b.GLTF", tmp_path / "c.Glb"):
        assert resolve_up("auto", name) == "y"
    for source in ("a.obj", "a.ply", "glb", tmp_path / "a.glb.stl", (np.zeros((3, 3)), None),
                   trimesh.creation.box(), Grid(np.ones((2, 2, 2), dtype=bool))):
        assert resolve_up("auto", source) == "z"
    assert resolve_up("z", "a.glb") == "z" and resolve_up("y", "a.obj") == "y"


def test_a_mixed_batch_reads_each_input_by_its_format(tmp_path, z_up, y_up):
    glb = tmp_path / "chiral.glb"
    y_up.export(glb)
    results = check_many([str(glb), z_up, y_up], workers=1, progress=False)
    reference = check_mesh(z_up, up="z")
    assert all(r.status == "ok" for r in results)
    for same in results[:2]:  # the glb read y-up and the in-memory z-up mesh: one object
        assert same.topple_angle_deg == pytest.approx(reference.topple_angle_deg, abs=1e-4)
    # an in-memory mesh has no format to go by: z-up, so the y-up copy lies on its side
    assert results[2].topple_angle_deg != pytest.approx(reference.topple_angle_deg, abs=0.1)
