"""`dso check`: the contract other tools rely on (JSON lines, summary, exit codes, --render)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image
from typer.testing import CliRunner

from dso.cli import app
from dso.physics.config import OracleConfig
from dso.physics.oracle import evaluate
from dso.physics.render import (
    RenderUnavailable,
    caption,
    frame_captions,
    recording_config,
    render_checks,
)
from tests.physics.oracle_shapes import cantilever, mesh_of, table, topple_deg

DATA = Path(__file__).parent / "data"
STABLE = str(DATA / "pybullet/domino.obj")
FALLS = str(DATA / "pybullet/random_106.obj")
KEYS = {"path", "status", "stable", "tilt_deg", "dso_angle_deg", "mass_source", "seconds",
        "error"}


def _run(*args):
    return CliRunner().invoke(app, ["check", *args])


def test_json_lines_one_per_mesh_in_order_and_exit_1_on_any_failure(tmp_path):
    missing = str(tmp_path / "missing.obj")
    result = _run(STABLE, missing, FALLS, "--json", "--workers", "2")
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3
    rows = [json.loads(line) for line in lines]
    assert all(KEYS <= set(row) for row in rows)
    assert [row["path"] for row in rows] == [STABLE, missing, FALLS]
    assert [row["status"] for row in rows] == ["ok", "error", "ok"]
    assert [row["stable"] for row in rows] == [True, None, False]
    assert "not found" in rows[1]["error"]


def test_summary_table_and_exit_0_when_all_evaluated():
    result = _run(STABLE, FALLS, "--workers", "1")
    assert result.exit_code == 0, result.output
    summary = next(line for line in result.stdout.splitlines() if "meshes:" in line)
    assert summary.startswith("2 meshes: 2 evaluated, 1 stable (50.0%), 0 failed; "
                              "median tilt of the stable ones ")
    stable_tilt = json.loads(_run(STABLE, "--json", "--workers", "1").stdout)["tilt_deg"]
    assert summary.endswith(f" {stable_tilt:.2f} deg")  # the stable one's, not the fallen one's


def test_help_gives_the_exit_codes_and_what_each_preset_compares():
    text = " ".join(_run("--help").stdout.split())  # rich wraps the lines
    assert "0 every mesh was evaluated" in text and "1 some could not be" in text
    assert "2 usage error" in text and "directory" in text
    assert "accurate compares the tilt of the up axis" in text and "2*acos(w)" in text


def test_no_progress_bar_unless_stderr_is_a_terminal(monkeypatch, capsys):
    import io

    from dso.physics import check_many

    box = trimesh.creation.box((0.4, 0.4, 0.4))
    check_many([box], workers=1)
    assert capsys.readouterr().err == ""  # pytest's stderr is not a terminal

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    check_many([box], workers=1)
    assert "checking" in terminal.getvalue() and "1/1" in terminal.getvalue()


def test_options_reach_the_oracle():
    rows = [json.loads(line) for line in _run(
        STABLE, "--json", "--preset", "dso", "--threshold", "5",
        "--workers", "1").stdout.splitlines()]
    assert rows[0]["mass_source"] == "legacy" and rows[0]["threshold_deg"] == 5.0


# A sign post: a narrow foot (0.3 x 0.6) with a post at its far +y end. Read z-up it stands on
# the foot; read y-up it lies on the foot's thin -y edge and falls over (about 45 degrees).
SIGN_POST = [((0.0, 0.0, 0.05), (0.3, 0.6, 0.1)), ((0.0, 0.25, 0.35), (0.1, 0.1, 0.5))]


def test_up_y_changes_the_verdict(tmp_path):
    from dso.physics.loading import Y_UP_TO_Z_UP

    z_up = mesh_of(SIGN_POST)
    z_path, y_path = tmp_path / "post_z.obj", tmp_path / "post_y.obj"
    z_up.export(z_path)
    trimesh.Trimesh(z_up.vertices @ Y_UP_TO_Z_UP, z_up.faces).export(y_path)  # authored y-up

    def verdict(path, *up):
        result = _run(str(path), "--json", "--workers", "1", *up)
        assert result.exit_code == 0, result.output
        row = json.loads(result.stdout)
        return row["stable"], row["tilt_deg"]

    stands, tilt = verdict(z_path)
    assert stands and tilt < 5
    falls, fallen_tilt = verdict(z_path, "--up", "y")
    assert not falls and fallen_tilt > 30
    stands_y, tilt_y = verdict(y_path, "--up", "y")  # the y-up copy read y-up: the same post
    assert stands_y and tilt_y == pytest.approx(tilt, abs=1.0)


def _rows(*args):
    result = _run(*args, "--json", "--workers", "1")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_up_auto_reads_gltf_y_up_and_every_other_format_z_up_in_one_batch(tmp_path):
    from dso.physics.loading import Y_UP_TO_Z_UP

    boxes = cantilever(1.0, foot=0.2)  # an L whose arm reaches past its foot: it falls
    assert topple_deg(boxes) < -5
    z_up = mesh_of(boxes)
    y_up = trimesh.Trimesh(z_up.vertices @ Y_UP_TO_Z_UP, z_up.faces)  # authored y-up
    glb, obj_y, obj_z = tmp_path / "L.glb", tmp_path / "L_yup.obj", tmp_path / "L_zup.obj"
    y_up.export(glb)  # glTF is y-up: as TRELLIS and Blender write it
    y_up.export(obj_y)
    z_up.export(obj_z)
    by_default = _rows(str(glb), str(obj_z), str(obj_y))  # no --up: auto, per file
    assert [r["stable"] for r in by_default] == [False, False, True]  # the .obj read z-up lies
    falls_glb, falls_obj = by_default[0], by_default[1]
    assert falls_glb["tilt_deg"] > 30
    assert falls_glb["tilt_deg"] == pytest.approx(falls_obj["tilt_deg"], abs=0.5)
    (as_y,) = _rows(str(obj_y), "--up", "y")  # the same file, told it is y-up
    assert as_y["stable"] is False
    assert as_y["tilt_deg"] == pytest.approx(falls_glb["tilt_deg"], abs=0.5)
    (glb_as_z,) = _rows(str(glb), "--up", "z")  # an explicit axis holds for every format
    assert glb_as_z["stable"] is True and glb_as_z["tilt_deg"] == pytest.approx(
        by_default[2]["tilt_deg"], abs=0.5)


def test_a_directory_stands_for_the_mesh_files_directly_inside_it(tmp_path):
    folder = tmp_path / "meshes"
    (folder / "sub").mkdir(parents=True)
    box = trimesh.creation.box((0.4, 0.4, 0.4))
    for name in ("b.obj", "a.PLY", "c.stl", ".hidden.obj", "sub/deeper.obj"):
        box.export(folder / name)
    (folder / "notes.txt").write_text("not a mesh")
    (folder / "broken.off").write_text("OFF\nnot numbers\n")
    rows = [json.loads(line) for line in _run(
        STABLE, str(folder), "--json", "--workers", "1").stdout.splitlines()]
    names = ["a.PLY", "b.obj", "broken.off", "c.stl"]  # sorted by name, one line each
    assert [r["path"] for r in rows] == [STABLE] + [str(folder / n) for n in names]
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "error", "ok"]


@pytest.mark.parametrize("content", [[], ["notes.txt", ".hidden.obj"]])
def test_a_directory_without_mesh_files_is_a_usage_error(tmp_path, content):
    for name in content:
        (tmp_path / name).write_text("v 0 0 0\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inside.obj").write_text("v 0 0 0\n")  # not searched
    result = _run(str(tmp_path), "--json")
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no mesh files" in lines[0] and str(tmp_path) in lines[0]


@pytest.mark.parametrize("args", [[], ["m.obj", "--up", "x"], ["m.obj", "--preset", "fast"],
                                  ["m.obj", "--threshold", "-3"], ["m.obj", "--workers", "0"],
                                  ["m.obj", "--render", "out.jpg"], ["m.obj", "--bogus"]])
def test_usage_errors_exit_2(args):
    assert _run(*args).exit_code == 2


def test_console_script_exit_codes_in_a_real_process(tmp_path):
    cmd = [sys.executable, "-m", "dso", "check", "--json", "--workers", "1"]
    ok = subprocess.run(cmd + [STABLE], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["stable"] is True
    bad = subprocess.run(cmd + [str(tmp_path / "nope.stl")], capture_output=True, text=True)
    assert bad.returncode == 1 and json.loads(bad.stdout)["status"] == "error"


def test_render_png_start_and_end_with_the_software_renderer(tmp_path):
    out = tmp_path / "poses.png"
    assert render_checks([STABLE, FALLS], out, backends=["software"]) == "software"
    image = np.asarray(Image.open(out))
    assert image.shape == (2 * 256, 2 * 256, 3)
    start, end = image[256:, :256], image[256:, 256:]  # the falling one: its pose changed
    assert start.mean() > 5 and end.mean() > 5
    assert np.abs(start.astype(int) - end.astype(int)).mean() > 2


def test_render_gif_shows_the_fall(tmp_path):
    out = tmp_path / "fall.gif"
    mesh_path = tmp_path / "table.ply"
    mesh_of(table(1.2)).export(mesh_path)
    render_checks([str(mesh_path)], out, backends=["software"])
    gif = Image.open(out)
    assert gif.n_frames > 5
    gif.seek(0)
    first = np.asarray(gif.convert("RGB"), dtype=int)
    gif.seek(gif.n_frames - 1)
    assert np.abs(first - np.asarray(gif.convert("RGB"), dtype=int)).mean() > 2


def test_render_without_a_working_backend_says_what_to_install(tmp_path):
    with pytest.raises(RenderUnavailable, match="apt-get install libosmesa6"):
        render_checks([STABLE], tmp_path / "x.png", backends=["no-such-gl"])


def _edge_box() -> trimesh.Trimesh:
    """A box balanced on an edge: it stands only because nothing disturbs it."""
    box = trimesh.creation.box((0.3, 0.5, 0.5))
    box.apply_transform(trimesh.transformations.rotation_matrix(np.radians(45), (1, 0, 0)))
    return box


def _roller() -> trimesh.Trimesh:
    """A ball with a heavy block on its upper side: it rolls past 90 deg, then on to rest."""
    block = trimesh.creation.box((0.3, 0.3, 0.3))
    block.apply_translation((0.2, 0, 0.3))
    return trimesh.util.concatenate([trimesh.creation.icosphere(3, radius=0.35), block])


def test_a_perturbed_verdict_is_captioned_unstable_not_by_the_upright_rerun():
    config = OracleConfig.from_preset(perturb_deg=2.0)
    table_row = evaluate(_edge_box(), config, path="edge.obj").result
    shown = evaluate(_edge_box(), recording_config(config, gif=False), path="edge.obj").result
    assert (table_row.stable, table_row.reason, shown.stable) == (False, "perturbed", True)
    text = caption(table_row, shown)
    assert text.startswith("edge.obj: FALLS, tilt 0.0 deg\nperturbed starts: ")
    assert "stable" not in text


def test_the_caption_gives_the_tables_angle_and_says_what_the_end_picture_shows():
    config = OracleConfig.from_preset()
    table_row = evaluate(_roller(), config, path="roller.obj").result
    shown = evaluate(_roller(), recording_config(config, gif=False), path="roller.obj").result
    assert table_row.stop_reason == "fallen" and shown.stop_reason == "settled"
    first, second = caption(table_row, shown).split("\n")
    assert first == f"roller.obj: FALLS, tilt {table_row.tilt_deg:.1f} deg"
    assert second.startswith("(shown: at rest after ") and f"{shown.tilt_deg:.1f} deg)" in second
    assert "\n" not in caption(table_row, table_row)  # the end pose is the verdict's: one line


def test_a_gifs_frames_say_what_the_end_shows_only_once_the_fall_reaches_it():
    config = OracleConfig.from_preset()
    table_row = evaluate(_roller(), config, path="roller.obj").result
    recorded = evaluate(_roller(), recording_config(config, gif=True), path="roller.obj")
    text = caption(table_row, recorded.result)
    n_frames = len(recorded.frames) + 3  # a longer rollout beside it holds this one's end
    per_frame = frame_captions(recorded, table_row, n_frames)
    assert "\n(shown: at rest" in text and len(recorded.frames) > 5
    assert per_frame[0] == text.split("\n")[0]  # the start is not at rest yet
    assert per_frame[len(recorded.frames) - 2] == per_frame[0]
    assert per_frame[len(recorded.frames) - 1:] == [text] * 4
    one_line = caption(recorded.result)  # no table row: the recorded verdict, one line
    assert frame_captions(recorded, None, 3) == [one_line] * 3 and "\n" not in one_line


def test_the_dso_presets_caption_names_its_angle():
    row = evaluate(_roller(), OracleConfig.from_preset("dso"), path="r.obj").result
    assert caption(row) == f"r.obj: FALLS, 2acos(w) {row.dso_angle_deg:.1f} deg"


def test_render_checks_simulates_under_the_commands_config(tmp_path):
    mug = str(DATA / "pybullet/mug.obj")  # 864 faces: refused over a cap of 300
    config = OracleConfig.from_preset(max_faces=300, on_too_many_faces="refuse")
    with pytest.raises(RenderUnavailable, match="no mesh could be evaluated"):
        render_checks([mug], tmp_path / "x.png", config=config, backends=["software"])
    kept = recording_config(OracleConfig.from_preset("dso", max_faces=300, perturb_deg=1.0), True)
    assert (kept.preset, kept.max_faces, kept.perturb_deg, kept.fallen_deg) == (
        "dso", 300, 0.0, 179.0)


def test_cli_render_writes_the_picture_with_whatever_backend_works(tmp_path):
    out = tmp_path / "check.png"
    result = _run(STABLE, "--render", str(out), "--workers", "1")
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (512, 256)


def test_cli_render_says_when_it_drew_only_the_first_meshes(tmp_path, monkeypatch):
    import dso.physics.render as drawing

    monkeypatch.setattr(drawing, "MAX_MESHES", 1)  # 12 in use: 13 real meshes are slow here
    out = tmp_path / "two.png"
    result = _run(STABLE, FALLS, "--render", str(out), "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "drew 1 of 2 meshes in PNG" in result.output
    assert Image.open(out).size == (512, 256)  # one row: the first mesh
    alone = _run(STABLE, "--render", str(tmp_path / "one.png"), "--workers", "1")
    assert "drew" not in alone.output


def test_max_faces_decimates_and_refuse_over_cap_reports_an_error():
    mug = str(DATA / "pybullet/mug.obj")  # 864 faces
    decimated = _run(mug, "--json", "--workers", "1", "--max-faces", "300")
    assert decimated.exit_code == 0, decimated.output
    row = json.loads(decimated.stdout)
    assert row["status"] == "ok" and row["decimated"] is True and row["faces"] <= 300
    table = _run(mug, "--workers", "1", "--max-faces", "300")
    assert "1 decimated to the face cap (--max-faces)" in table.output
    refused = _run(mug, "--json", "--workers", "1", "--max-faces", "300", "--refuse-over-cap")
    assert refused.exit_code == 1
    row = json.loads(refused.stdout)
    assert row["status"] == "error" and row["error_kind"] == "too_many_faces"
    assert json.loads(_run(mug, "--json", "--workers", "1").stdout)["decimated"] is False
