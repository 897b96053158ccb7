"""`dso world build` and `dso world show` end to end on a tiny world."""

from PIL import Image
from typer.testing import CliRunner

from dso.cli import app


def test_build_then_show(tmp_path):
    out = tmp_path / "world"
    args = ["world", "build", str(out), "--n", "3", "--n-eval", "1", "--n-synthetic", "0",
            "--n-val", "1", "--wild-per-family", "1", "--workers", "1", "--families", "chair",
            "--families", "bird"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "6 objects" in result.output and "rejected" in result.output
    assert "world: 100%" in result.stderr  # the progress bar
    quiet = CliRunner().invoke(app, [*args[:2], str(tmp_path / "quiet"), *args[3:], "--quiet"])
    assert quiet.exit_code == 0 and "6 objects" in quiet.output and "world:" not in quiet.stderr
    assert "val" in result.output
    result = CliRunner().invoke(app, ["world", "show", str(out), "--png", str(tmp_path / "s.png")])
    assert result.exit_code == 0, result.output
    sheet = Image.open(tmp_path / "s.png")
    assert sheet.size[1] == 2 * 64  # one row per family
    bad = CliRunner().invoke(app, ["world", "show", str(out), "--split", "bogus"])
    assert bad.exit_code == 2 and "unknown split 'bogus'; a world has train, eval" in bad.output
    empty = CliRunner().invoke(app, ["world", "show", str(out), "--split", "synthetic"])
    assert empty.exit_code == 2 and "split 'synthetic' is empty" in empty.output


def test_clear_errors(tmp_path):
    result = CliRunner().invoke(app, ["world", "show", str(tmp_path / "none")])
    assert result.exit_code == 2 and "no world" in result.output
    result = CliRunner().invoke(app, ["world", "build", str(tmp_path / "w"), "--families", "x"])
    assert result.exit_code == 2 and "unknown family" in result.output


def test_a_world_of_held_out_families_only_is_said_and_an_empty_one_fails(tmp_path):
    import pytest

    from dso.world import build_world

    with pytest.warns(UserWarning, match="none of the families .'bird'. is a training family"):
        world = build_world(tmp_path / "w", n_train=2, n_eval=0, n_synthetic=0, n_val=0,
                            wild_per_family=1, families=["bird"], workers=1, progress=False)
    assert [o.split for o in world] == ["wild"]
    empty = CliRunner().invoke(app, ["world", "build", str(tmp_path / "e"), "--n", "2",
                                     "--families", "bird", "--wild-per-family", "0",
                                     "--n-eval", "0", "--n-synthetic", "0", "--n-val", "0"])
    assert empty.exit_code == 2 and "holds no object" in empty.output
    bad = CliRunner().invoke(app, ["world", "build", str(tmp_path / "b"), "--workers", "0"])
    assert bad.exit_code == 2


def test_a_folder_holding_something_else_or_a_file_is_refused(tmp_path):
    other = tmp_path / "dataset"
    other.mkdir()
    (other / "index.sqlite").write_bytes(b"not a world")
    result = CliRunner().invoke(app, ["world", "build", str(other), "--n", "1"])
    assert result.exit_code == 2 and "is not empty and holds no world" in result.output
    assert sorted(p.name for p in other.iterdir()) == ["index.sqlite"]  # nothing written
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    result = CliRunner().invoke(app, ["world", "build", str(a_file), "--n", "1"])
    assert result.exit_code == 2 and "is a file, not a folder" in result.output
    assert "Traceback" not in result.output and "Errno" not in result.output
