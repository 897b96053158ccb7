"""Every command keeps one contract (dso.cli_errors): a user's mistake exits 2 with one line
`error: ...` on stderr and no traceback; click's usage errors exit 2 too."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from dso.cli import app


def _cases(tmp) -> dict[str, tuple[list, str]]:
    """command -> (arguments that hold one user error, text the message must contain)."""
    image = tmp / "prompt.png"
    Image.fromarray(np.full((16, 16, 3), 90, dtype=np.uint8)).save(image)
    a_file = tmp / "a_file"
    a_file.write_text("not a folder")
    missing = tmp / "missing"
    return {
        "world build": (["world", "build", tmp / "w", "--families", "nope"],
                        "unknown family 'nope'; known: "),
        "world show": (["world", "show", missing], "no world"),
        "pretrain": (["pretrain", "--world", missing, "--out", tmp / "p", "--quiet"],
                     "no world"),
        "generate": (["generate", "--images", image, "--generator", "nope", "--n", 1,
                      "--out", tmp / "ds", "--quiet"],
                     "unknown generator 'nope'; known: dso-tiny, trellis, trellis2"),
        "label": (["label", missing, "--quiet"], "no dataset"),
        "data stats": (["data", "stats", missing], "no dataset"),
        "train": (["train", missing, "--objective", "sft", "--out", tmp / "run", "--quiet"],
                  "no dataset"),
        "eval": (["eval", "--world", a_file, "--out", tmp / "r"], "no world"),
        "eval-compare": (["eval-compare", f"base={missing}", "--out", tmp / "cmp"],
                         "missing"),
        "export": (["export", missing, "--out", tmp / "x"], "run folder not found"),
        "demo": (["demo", "--out", a_file], "a_file"),
    }


COMMANDS = ["world build", "world show", "pretrain", "generate", "label", "data stats", "train",
            "eval", "eval-compare", "export", "demo"]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_user_error_exits_2_with_one_error_line(command, tmp_path):
    args, text = _cases(tmp_path)[command]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert text in lines[0]
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def test_every_command_is_covered(tmp_path):
    groups = {g.name: g.typer_instance for g in app.registered_groups}
    names = {c.name for c in app.registered_commands} | {
        f"{name} {c.name}" for name, group in groups.items() for c in group.registered_commands}
    assert set(_cases(tmp_path)) == set(COMMANDS)
    assert names - {"env", "check"} == set(COMMANDS)  # env takes no input; check: below


def test_usage_errors_and_item_failures(tmp_path):
    runner = CliRunner()
    usage = runner.invoke(app, ["check", str(tmp_path / "m.obj"), "--threshold", "500"])
    assert usage.exit_code == 2 and "Traceback" not in usage.output
    assert "--threshold" in usage.stderr
    item = runner.invoke(app, ["check", str(tmp_path / "missing.obj"), "--json"])
    assert item.exit_code == 1 and '"status": "error"' in item.stdout  # an item failed


def test_label_names_the_presets_it_takes(tmp_path):
    result = CliRunner().invoke(app, ["label", str(tmp_path), "--preset", "nope"])
    assert result.exit_code == 2
    assert "'nope' is not one of 'accurate', 'dso'" in result.output
