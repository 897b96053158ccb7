"""dso.cli_options: a config dataclass's fields become a command's options, help included."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dso.cli_options import cli_fields, config_options, setting


@dataclass
class Settings:
    name: str = setting(help="Not an option.", cli=False)
    steps: int = setting(200, "Optimizer steps.")
    lora_rank: int = setting(16, "LoRA rank.", flag="--rank")
    bound: float | None = setting(None, "A clamp.")
    paired: bool = setting(False, "Rows as pairs.", off="--unpaired")
    weights: str | None = setting(None, "A folder.", path=True, shown="the shipped ones")


def _app() -> typer.Typer:
    app = typer.Typer(rich_markup_mode=None)  # as dso.cli.app: brackets stay text

    @app.command()
    @config_options(Settings, after="out")
    def run(out: Path = typer.Option(..., "--out"),
            quiet: bool = typer.Option(False, "--quiet"), *, given: dict) -> None:
        typer.echo(json.dumps({"out": str(out), "quiet": quiet, "given": given}))

    return app


def test_only_the_options_given_reach_the_command(tmp_path):
    runner = CliRunner()
    res = runner.invoke(_app(), ["--out", "o"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["given"] == {}
    res = runner.invoke(_app(), ["--out", "o", "--steps", "5", "--rank", "4", "--bound", "0.5",
                                 "--unpaired", "--weights", str(tmp_path / "w"), "--quiet"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.output)
    assert got["quiet"] is True and got["out"] == "o"
    assert got["given"] == {"steps": 5, "lora_rank": 4, "bound": 0.5, "paired": False,
                            "weights": str((tmp_path / "w").resolve())}
    assert runner.invoke(_app(), ["--out", "o", "--paired"]).output.count('"paired": true') == 1


def test_help_explains_each_option_with_the_dataclass_default():
    res = CliRunner().invoke(_app(), ["--help"], env={"COLUMNS": "200"})
    out = res.output
    for text in ("--steps", "Optimizer steps. [200]", "--rank", "LoRA rank. [16]",
                 "A clamp. [none]", "--paired / --unpaired", "Rows as pairs. [unpaired]",
                 "A folder. [the shipped ones]"):
        assert text in out, text
    assert "--name" not in out
    assert out.index("--out") < out.index("--steps") < out.index("--quiet")  # after="out"


def test_dso_train_help_lists_every_training_setting():
    from dso.cli import app
    from dso.train.config import TrainConfig

    out = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).output
    for f in cli_fields(TrainConfig):
        flag = f.metadata["flag"] or "--" + f.name.replace("_", "-")
        assert flag in out and f.metadata["help"].split()[0] in out, f.name
    for kept in ("--rank", "--alpha", "--dropout", "--paired-dro / --unpaired-dro",
                 "--other-view / --same-view", "--guided-loss / --plain-loss", "--world",
                 "--eval-limit", "--resume", "--quiet", "--objective"):
        assert kept in out, kept


@pytest.mark.parametrize("command", [["generate"], ["label"], ["train"], ["export"],
                                     ["pretrain"], ["eval"], ["world", "build"], ["check"],
                                     ["demo"]])
def test_every_long_running_command_can_turn_its_progress_bars_off(command):
    from dso.cli import app

    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0 and "--quiet" in result.output and "No progress bars" in \
        result.output
