"""Every class of bad input gets a clear error in one batch with good meshes, whose results stay
exactly what they are alone; every good input form (files, scenes, arrays) is understood."""

import numpy as np
import pytest
import trimesh

from dso.physics import CheckResult, OracleConfig, check_many, check_mesh
from tests.physics.oracle_shapes import biped, mesh_of, table, topple_deg

DATA = __import__("pathlib").Path(__file__).parent / "data"


def _same(a: CheckResult, b: CheckResult) -> bool:
    da, db = a.to_dict(), b.to_dict()
    da.pop("seconds"), db.pop("seconds")
    return da == db


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    garbage = tmp / "garbage.ply"
    garbage.write_bytes(b"ply\nformat nonsense 9.9\nthis is not a mesh\x00\x01")
    flat = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 3]])
    inf_box = trimesh.creation.box()
    inf_vertices = np.array(inf_box.vertices)
    inf_vertices[3] = [np.inf, 0.0, 0.0]
    return {
        "missing": str(tmp / "does_not_exist.obj"),
        "unparsable": str(garbage),
        "empty": (np.zeros((0, 3)), np.zeros((0, 3), dtype=int)),
        "non_finite": str(DATA / "pybullet/random_168.obj"),  # a real file full of NaN
        "non_finite_inf": (inf_vertices, inf_box.faces),
        "flat": flat,
        "point_cloud": trimesh.PointCloud(np.random.default_rng(0).normal(size=(50, 3))),
        "point_cloud_arrays": (np.random.default_rng(1).normal(size=(50, 3)), None),
        "unsupported": 42,
    }


def test_bad_inputs_fail_clearly_in_one_batch_with_good_meshes(bad_inputs):
    good = [mesh_of(table()), str(DATA / "pybullet/domino.obj"), mesh_of(biped(0.4))]
    batch = [good[0], *bad_inputs.values(), good[1], good[2]]
    results = check_many(batch, workers=2, progress=False)
    assert len(results) == len(batch)
    errors = results[1:-2]
    for (kind, _), result in zip(bad_inputs.items(), errors, strict=True):
        assert result.status == "error" and result.stable is None, kind
        assert result.error_kind == kind.removesuffix("_inf").removesuffix("_arrays"), result.error
        assert result.error and len(result.error) > 10
        assert result.to_dict()["tilt_deg"] is None  # NaN becomes null in JSON
    assert "not found" in errors[0].error and "flat" in errors[5].error
    for item, result in zip(good, [results[0], results[-2], results[-1]], strict=True):
        assert result.status == "ok"
        assert _same(result, check_mesh(item))  # intact: exactly the result it gets alone
    assert [r.stable for r in (results[0], results[-2], results[-1])] == [True, True, False]


def test_face_cap_decimates_or_refuses_clearly():
    sphere_on_box = trimesh.util.concatenate([
        trimesh.creation.box((1.0, 1.0, 0.2)),
        trimesh.creation.icosphere(subdivisions=5, radius=0.3).apply_translation((0, 0, 0.4)),
    ])
    n = len(sphere_on_box.faces)
    assert n > 20_000
    full = check_mesh(sphere_on_box)
    cut = check_mesh(sphere_on_box, config=OracleConfig.from_preset(max_faces=5_000))
    assert cut.status == "ok" and cut.decimated and cut.faces <= 5_000
    assert cut.stable == full.stable is True
    refused = check_mesh(sphere_on_box, config=OracleConfig.from_preset(
        max_faces=5_000, on_too_many_faces="refuse"))
    assert refused.status == "error" and refused.error_kind == "too_many_faces"
    assert str(n) in refused.error and "5000" in refused.error


@pytest.mark.parametrize("ext", ["obj", "stl", "ply", "off", "glb"])
def test_file_formats_give_the_same_answer(tmp_path, ext):
    from dso.physics.loading import Y_UP_TO_Z_UP

    boxes = table(0.45)
    path = tmp_path / f"table.{ext}"
    mesh = mesh_of(boxes)
    if ext == "glb":  # glTF is y-up, and read so by default
        mesh = trimesh.Trimesh(mesh.vertices @ Y_UP_TO_Z_UP, mesh.faces)
    mesh.export(path)
    result = check_mesh(path)
    assert result.status == "ok", result.error
    assert result.path == str(path)
    assert result.topple_angle_deg == pytest.approx(topple_deg(boxes), abs=0.1)


def test_scenes_are_flattened_with_their_transforms():
    boxes = table(1.2)  # the top overhangs: falls
    scene = trimesh.Scene()
    for i, (centre, size) in enumerate(boxes):
        spin = trimesh.transformations.rotation_matrix(np.pi / 2 * i, [0, 0, 1])
        part = trimesh.creation.box(extents=size).apply_transform(np.linalg.inv(spin))
        scene.add_geometry(part, node_name=f"part{i}",
                           transform=trimesh.transformations.translation_matrix(centre) @ spin)
    result = check_mesh(scene)
    assert result.status == "ok", result.error
    assert result.topple_angle_deg == pytest.approx(topple_deg(boxes), abs=0.1)
    assert result.stable is False


def test_arrays_and_open_or_inverted_meshes():
    box = trimesh.creation.box((0.4, 0.4, 1.0))
    as_arrays = check_mesh((box.vertices.tolist(), box.faces.tolist()))
    inverted = check_mesh((box.vertices, box.faces[:, ::-1]))
    open_box = check_mesh((box.vertices, box.faces[:-1]))
    assert as_arrays.mass_source == inverted.mass_source == "mesh"
    assert open_box.mass_source == "repaired"
    for r in (as_arrays, inverted, open_box):
        assert r.stable is True and r.topple_angle_deg == pytest.approx(21.80, abs=0.05)
    bad_index = check_mesh((box.vertices, box.faces + 100))
    assert bad_index.error_kind == "unsupported" and "out of range" in bad_index.error


def test_invalid_config_is_a_usage_error_not_a_result():
    with pytest.raises(ValueError, match="preset"):
        check_mesh(mesh_of(table()), preset="fast")
    with pytest.raises(ValueError, match="up"):
        check_many([mesh_of(table())], up="x", progress=False)


@pytest.mark.parametrize("offset", [0, 70_000])  # vertex numbers past 2^16: 64-bit edge keys
def test_closed_and_oriented_means_every_edge_has_its_reverse(offset):
    from dso.physics.topology import is_closed_oriented

    sphere = np.asarray(trimesh.creation.icosphere(2).faces) + offset
    assert is_closed_oriented(sphere)
    assert is_closed_oriented(np.concatenate([sphere, sphere[:1, ::-1], sphere[:1]]))  # balanced
    assert not is_closed_oriented(sphere[1:])  # a hole
    flipped = sphere.copy()
    flipped[0] = flipped[0, ::-1]
    assert not is_closed_oriented(flipped)  # one face wound the wrong way
    assert trimesh.Trimesh(trimesh.creation.icosphere(2).vertices, flipped - offset,
                           process=False).is_winding_consistent is False


def _write_bad_files(tmp):
    box = trimesh.creation.box()
    (tmp / "empty.obj").write_bytes(b"")
    (tmp / "empty.glb").write_bytes(b"")
    box.export(tmp / "no_extension", file_type="stl")
    box.export(tmp / "box.abc", file_type="stl")
    (tmp / "zeros.stl").write_bytes(b"\0" * 10)
    (tmp / "junk.obj").write_text("hello world\nthis is not a mesh\n")
    box.export(tmp / "ply_named.obj", file_type="ply")
    points = trimesh.PointCloud(np.random.default_rng(0).normal(size=(20, 3)))
    trimesh.Scene([points]).export(tmp / "points.glb")


SUPPORTED = ".obj .ply .stl .off .glb .gltf"


@pytest.mark.parametrize("name,kind,says", [
    ("empty.obj", "empty", "empty file (0 bytes)"),
    ("empty.glb", "empty", "empty file (0 bytes)"),
    ("no_extension", "unsupported", f"no file extension, so no format: expected one of "
                                    f"{SUPPORTED}"),
    ("box.abc", "unsupported", f"unsupported format .abc: expected one of {SUPPORTED}"),
    ("zeros.stl", "unparsable", "no geometry could be read: is it really a .stl file?"),
    ("junk.obj", "unparsable", "no geometry could be read: is it really a .obj file?"),
    ("ply_named.obj", "unparsable", "a .obj file? (it starts like a PLY file)"),
    ("points.glb", "point_cloud", "only point clouds"),
])
def test_bad_files_say_what_is_wrong(tmp_path, name, kind, says):
    _write_bad_files(tmp_path)
    result = check_mesh(tmp_path / name)
    assert result.status == "error"
    assert result.error_kind == kind, result.error
    assert result.error.startswith(f"{tmp_path / name}: ") and says in result.error, result.error
    assert "\n" not in result.error and "out of bounds" not in result.error


def test_a_scene_with_a_mesh_beside_a_point_cloud_checks_the_mesh(tmp_path):
    points = trimesh.PointCloud(np.random.default_rng(0).normal(size=(20, 3)))
    trimesh.Scene([points, trimesh.creation.box((0.4, 0.4, 0.4))]).export(tmp_path / "s.glb")
    result = check_mesh(tmp_path / "s.glb")
    assert result.status == "ok" and result.stable is True, result.error
