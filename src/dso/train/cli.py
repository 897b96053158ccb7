"""`dso train DS --objective dro|dpo|sft --out RUN`: LoRA fine-tuning from a labelled dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from dso.cli_errors import user_errors

# CLI option name -> TrainConfig field
_FIELDS = {
    "steps": "steps", "lr": "lr", "batch_size": "batch_size", "grad_accum": "grad_accum",
    "rank": "lora_rank", "alpha": "lora_alpha", "dropout": "lora_dropout", "warmup": "warmup",
    "weight_decay": "weight_decay", "grad_clip": "grad_clip", "beta": "beta",
    "ascent_bound": "ascent_bound", "seed": "seed", "save_every": "save_every",
    "eval_every": "eval_every", "generator": "generator", "weights": "weights",
    "device": "device", "paired_dro": "paired_dro", "cond_dropout": "cond_dropout",
    "other_view": "other_view", "tensorboard": "tensorboard", "pair_noise": "pair_noise",
    "ascent_weight": "ascent_weight", "ascent_margin": "ascent_margin",
    "max_prompts": "max_prompts", "guided_loss": "guided_loss",
}


def _config(dataset: Path, objective: str | None, out: Path, resume: bool,
            given: dict[str, Any]):
    """A fresh config from the flags, or on --resume the saved one with allowed changes."""
    from dso.train.config import TrainConfig
    from dso.train.recipe import RESUMABLE_CHANGES

    overrides = {_FIELDS[k]: (str(v.resolve()) if isinstance(v, Path) else v)
                 for k, v in given.items() if v is not None}
    dataset = dataset.resolve()
    if resume and (out / "config.json").is_file():
        saved = TrainConfig.load(out).to_dict()
        if objective is not None:
            overrides["objective"] = objective
        overrides["dataset"] = str(dataset)
        bad = sorted(k for k, v in overrides.items()
                     if k not in RESUMABLE_CHANGES and saved[k] != v)
        if bad:
            raise ValueError("--resume keeps the run's settings; these differ from "
                             f"{out}/config.json: " + ", ".join(bad))
        return TrainConfig.from_dict({**saved, **overrides})
    if objective is None:
        raise ValueError("--objective is required for a new run")
    if "generator" not in overrides:
        overrides["generator"] = _dataset_generator(dataset)
    return TrainConfig(dataset=str(dataset), out=str(out), objective=objective, **overrides)


def _dataset_generator(dataset: Path) -> str:
    """The generator that produced the dataset (from its meta), default dso-tiny."""
    from dso.data import SampleStore

    with SampleStore.open(dataset) as store:
        return str(store.meta().get("generator") or "dso-tiny")


def _eval_fn(world: Path | None, limit: int, eval_every: int | None):
    if not eval_every:
        return None
    if world is None:
        raise ValueError("--eval-every needs --world DIR (the held-out prompts to evaluate)")
    from dso.eval import make_eval_fn
    from dso.world import World

    if not World.open(world).objects("val"):
        raise ValueError(f"{world} has no validation objects (split 'val'): the held-out "
                         "evaluation never looks at eval; build the world with --n-val N")
    return make_eval_fn(world, "val", limit=limit)


@user_errors()
def train_command(
    dataset: Path = typer.Argument(..., help="Labelled dataset directory (dso generate/label)."),
    objective: str = typer.Option(None, "--objective", help="dro | dpo | sft"),
    out: Path = typer.Option(..., "--out", help="Run folder (config, log, checkpoints, adapter)."),
    steps: int = typer.Option(None, "--steps", help="Optimizer steps [200]."),
    lr: float = typer.Option(None, "--lr", help="AdamW learning rate [1e-4]."),
    batch_size: int = typer.Option(None, "--batch-size", help="Rows per micro-batch [8]."),
    grad_accum: int = typer.Option(None, "--grad-accum", help="Micro-batches per step [1]."),
    rank: int = typer.Option(None, "--rank", help="LoRA rank [16]."),
    alpha: float = typer.Option(None, "--alpha", help="LoRA alpha [32]."),
    dropout: float = typer.Option(None, "--dropout", help="LoRA dropout [0]."),
    warmup: int = typer.Option(None, "--warmup", help="Linear warm-up steps [10]."),
    weight_decay: float = typer.Option(None, "--weight-decay", help="AdamW weight decay [0.01]."),
    grad_clip: float = typer.Option(None, "--grad-clip", help="Max gradient norm, 0 off [1]."),
    beta: float = typer.Option(None, "--beta", help="DPO beta [500]."),
    ascent_bound: float = typer.Option(None, "--ascent-bound",
                                       help="DRO: clamp on the unstable error [none]."),
    paired_dro: bool = typer.Option(None, "--paired-dro/--unpaired-dro",
                                    help="DRO rows as same-prompt pairs [unpaired]."),
    ascent_weight: float = typer.Option(None, "--ascent-weight",
                                        help="DRO: weight of the ascent on unstable samples [1]."),
    ascent_margin: float = typer.Option(None, "--ascent-margin",
                                        help="DRO: ascend an unstable sample only until its error "
                                             "is this far above the base model's [off]."),
    guided_loss: bool = typer.Option(None, "--guided-loss/--plain-loss",
                                     help="Fit the guided velocity the generator's sampler "
                                          "follows, not the plain conditional one [plain]."),
    max_prompts: int = typer.Option(None, "--max-prompts",
                                    help="Train on the dataset's first N prompts only [all]."),
    pair_noise: str = typer.Option(None, "--pair-noise",
                                   help="Paired DRO: shared t and noise per pair, or "
                                        "independent per row (paper Eq. 7) [shared]."),
    cond_dropout: float = typer.Option(None, "--cond-dropout",
                                       help="P(condition zeroed) per row [0]."),
    other_view: bool = typer.Option(None, "--other-view/--same-view",
                                    help="Condition on another view of the object [same]."),
    seed: int = typer.Option(None, "--seed", help="Seed for data order, t and noise [0]."),
    save_every: int = typer.Option(None, "--save-every", help="Checkpoint every N steps [50]."),
    eval_every: int = typer.Option(None, "--eval-every",
                                   help="Held-out evaluation every N steps (needs --world)."),
    world: Path = typer.Option(None, "--world", help="World folder for --eval-every (its "
                               "validation split 'val' is evaluated, never 'eval')."),
    eval_limit: int = typer.Option(32, "--eval-limit", help="Prompts per held-out evaluation."),
    generator: str = typer.Option(None, "--generator",
                                  help="Generator name [the dataset's generator]."),
    weights: Path = typer.Option(None, "--weights", help="Weights directory [shipped]."),
    device: str = typer.Option(None, "--device", help="torch device [cpu]."),
    tensorboard: bool = typer.Option(None, "--tensorboard", help="Also write TensorBoard."),
    resume: bool = typer.Option(False, "--resume", help="Continue RUN from its last checkpoint."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Fine-tune a generator's flow transformer with LoRA (DRO, DPO or SFT) on a labelled set.

    Writes RUN/config.json, RUN/log.jsonl (one line per step), RUN/checkpoints/ and the final
    RUN/adapter.safetensors. Killing it and rerunning with --resume continues exactly.
    """
    given = {k: v for k, v in locals().items() if k in _FIELDS}
    config = _config(dataset, objective, out, resume, given)
    eval_fn = _eval_fn(world, eval_limit, config.eval_every)
    from dso.train.recipe import train

    result = train(config, eval_fn=eval_fn, resume=resume, progress=not quiet)
    from dso.scale.distributed import env_ranks
    from dso.train.logging import read_log

    if env_ranks()[0] != 0:  # under torchrun, rank 0 alone reports (dso.scale)
        return
    last = read_log(out)[-1:] or [{}]
    if resume:
        typer.echo(f"resumed from step {result.resumed_from}")
    typer.echo(f"trained {config.objective} to step {result.steps} "
               f"({result.seconds_per_step:.3f} s/step); last loss {last[0].get('loss')}; "
               f"adapter in {out}")


def register(app: typer.Typer) -> None:
    """Add `dso train` and `dso export` to the CLI."""
    from dso.train.export_cli import export_command

    app.command("train")(train_command)
    app.command("export")(export_command)
