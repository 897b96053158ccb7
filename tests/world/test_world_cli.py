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
