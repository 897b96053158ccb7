"""`dso demo`: the end-to-end demo on the built-in model and world."""

from __future__ import annotations

from pathlib import Path

import typer

from dso.cli_errors import RERUN_RESUMES, user_errors
from dso.cli_options import quiet_option


@user_errors(on_interrupt=RERUN_RESUMES)
def demo(
    out: Path = typer.Option(Path("demo_out"), "--out", help="Folder for everything the demo "
                             "writes; rerunning with the same folder resumes."),
    quick: bool = typer.Option(False, "--quick", help="Smoke run of every stage (minutes)."),
    workers: int = typer.Option(None, "--workers", help="Oracle worker processes "
                                "(default: all cores)."),
    seed: int = typer.Option(0, "--seed", help="Seed of every stage."),
    weights: Path = typer.Option(None, "--weights", help="dso-tiny weights folder written by "
                                 "`dso pretrain` (default: the weights shipped with dso)."),
    quiet: bool = quiet_option(),
) -> None:
    """The end-to-end demo: generate, label, fine-tune (DRO, DPO, SFT), evaluate, report.

    Generates with dso-tiny on training prompts of the built-in world, labels every sample with
    the oracle, fine-tunes LoRA adapters with DRO, DPO and SFT, and evaluates the base model and
    the three adapters on the eval and in-the-wild splits. Writes OUT/results.json,
    OUT/report.md and OUT/figures/. The full run takes 5 to 13 minutes on 2 CPU cores (the
    README gives the latest measured time; the demo prints each stage's time and the total);
    --quick about a minute.
    """
    from dso.demo import DemoConfig, run_demo

    overrides = {"workers": workers, "seed": seed,
                 "weights": str(weights) if weights else None}
    cfg = DemoConfig.quick(**overrides) if quick else DemoConfig(**overrides)
    # a folder it cannot resume: DemoError, exit 2
    run_demo(out, cfg, progress=not quiet, log=typer.echo)


def register(app: typer.Typer) -> None:
    """Add `dso demo` to the CLI."""
    app.command("demo")(demo)
