"""`dso train DS --objective NAME --out RUN`: LoRA fine-tuning from a labelled dataset."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

from dso.cli_errors import user_errors
from dso.cli_options import config_options, quiet_option
from dso.objectives import objective_names
from dso.train.config import TrainConfig


def _config(dataset: Path, objective: str | None, out: Path, resume: bool,
            given: dict[str, Any]) -> TrainConfig:
    """A fresh config from the flags, or on --resume the saved one with the flags applied (the
    recipe refuses changes that a resumed run cannot take)."""
    import dataclasses

    dataset = dataset.resolve()
    if objective is not None:
        given["objective"] = objective
    if resume and (out / "config.json").is_file():
        return dataclasses.replace(TrainConfig.load(out), **given, dataset=str(dataset),
                                   out=str(out))
    if objective is None:
        if resume:
            raise ValueError(f"no run to resume in {out} (it has no config.json); start one "
                             "with --objective and without --resume")
        raise ValueError("--objective is required for a new run")
    if "generator" not in given:
        given["generator"] = _dataset_generator(dataset)
    return TrainConfig(dataset=str(dataset), out=str(out), **given)


def _dataset_generator(dataset: Path) -> str:
    """The generator that produced the dataset (from its meta), default dso-tiny."""
    from dso.data import SampleStore

    with SampleStore.open(dataset) as store:
        return str(store.meta().get("generator") or "dso-tiny")


def _eval_fn(world: Path | None, limit: int, eval_every: int | None):
    if not eval_every:
        return None
    if world is None:
        raise ValueError(f"evaluating every {eval_every} steps (--eval-every, kept in a resumed "
                         "run's config) needs --world DIR, the held-out prompts to evaluate; "
                         "or pass --eval-every 0")
    from dso.eval import make_eval_fn
    from dso.world import World

    if not World.open(world).objects("val"):
        raise ValueError(f"{world} has no validation objects (split 'val'): the held-out "
                         "evaluation never looks at eval; build the world with --n-val N")
    return make_eval_fn(world, "val", limit=limit)


@user_errors(on_interrupt="continue from the last checkpoint with the same command and --resume")
@config_options(TrainConfig, after="out")
def train_command(
    dataset: Path = typer.Argument(..., help="Labelled dataset directory (dso generate/label)."),
    objective: str = typer.Option(None, "--objective", help=" | ".join(objective_names())
                                  + " (required for a new run)."),
    out: Path = typer.Option(..., "--out", help="Run folder (config, log, checkpoints, adapter)."),
    world: Path = typer.Option(None, "--world", help="World folder for --eval-every (its "
                               "validation split 'val' is evaluated, never 'eval')."),
    eval_limit: int = typer.Option(32, "--eval-limit", help="Prompts per held-out evaluation."),
    resume: bool = typer.Option(False, "--resume", help="Continue RUN from its last checkpoint."),
    quiet: bool = quiet_option(),
    *, given: dict[str, Any],
) -> None:
    """Fine-tune a generator's flow transformer with LoRA (DRO, DPO or SFT) on a labelled set.

    Writes RUN/config.json, RUN/log.jsonl (one line per step), RUN/checkpoints/ and the final
    RUN/adapter.safetensors. Killing it and rerunning with --resume continues exactly.
    """
    fresh = resume and not (out / "config.json").is_file()
    config = _config(dataset, objective, out, resume, given)
    if fresh:  # --resume on a missing run starts one (a preemptible job's first start); say so
        typer.echo(f"note: no run in {out} to resume (no config.json): starting a new one",
                   err=True)
    eval_fn = _eval_fn(world, eval_limit, config.eval_every)
    from dso.train.recipe import train

    result = train(config, eval_fn=eval_fn, resume=resume, progress=not quiet)
    from dso.scale.distributed import env_ranks
    from dso.train.logging import read_log

    if env_ranks()[0] != 0:  # under torchrun, rank 0 alone reports (dso.scale)
        return
    last = read_log(out)[-1:] or [{}]
    if resume and not fresh:
        typer.echo(f"resumed from step {result.resumed_from}")
    speed = (f"{result.seconds_per_step:.3f} s/step" if math.isfinite(result.seconds_per_step)
             else "no step left to run")
    typer.echo(f"trained {config.objective} to step {result.steps} ({speed}); last loss "
               f"{last[0].get('loss')}; adapter in {out}")


def register(app: typer.Typer) -> None:
    """Add `dso train` and `dso export` to the CLI."""
    from dso.train.export_cli import export_command

    app.command("train")(train_command)
    app.command("export")(export_command)
