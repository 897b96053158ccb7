"""`dso eval` (one generator on one split) and `dso eval-compare` (models x splits table)."""

from __future__ import annotations

from pathlib import Path

import typer

from dso.cli_errors import RERUN_RESUMES, user_errors
from dso.cli_options import quiet_option
from dso.interrupts import reraise_if_interrupted
from dso.models.cli import guidance_option

SPLITS = ("eval", "wild", "synthetic", "val")
PROTOCOLS = ("paper", "dso-v1")  # dso.eval.icp.PROTOCOLS, named here so --help stays light


def _open_world(path: Path):
    from dso.world import World

    return World.open(path)


def _run_base(adapter: Path, generator: str | None, weights: Path | None
              ) -> tuple[str | None, Path | None, str | None]:
    """--generator and --weights for an --adapter: those given, else the ones its run was
    trained on (RUN/config.json; the weights only for the run's generator), and a line saying
    what was taken from the run (None: nothing)."""
    from dso.train.checkpoint import run_of
    from dso.train.config import TrainConfig

    if generator is not None and weights is not None:
        return generator, weights, None
    run = run_of(adapter)
    try:
        cfg = TrainConfig.load(run)
    except FileNotFoundError:  # an adapter folder without its run: the defaults
        return generator, weights, None
    taken = []
    if generator is None:
        generator = cfg.generator
        taken.append(f"--generator {generator}")
    if weights is None and generator == cfg.generator and cfg.weights is not None:
        weights = Path(cfg.weights)
        taken.append(f"--weights {weights}")
    if not taken:
        return generator, weights, None
    return generator, weights, (f"using the {' '.join(taken)} that {run} was trained with "
                                "(its config.json)")


def _guidance_note(adapter: Path, generator) -> str | None:
    """A line when the run's dataset was sampled at another guidance than the generator's
    (None when they agree or the dataset is not at hand)."""
    from dso.data import SampleStore
    from dso.train.checkpoint import run_of
    from dso.train.config import TrainConfig
    from dso.train.dataset_checks import dataset_guidance

    try:
        with SampleStore.open(TrainConfig.load(run_of(adapter)).dataset) as store:
            trained = dataset_guidance(store.meta())
    except Exception:  # noqa: BLE001 - no config, a moved dataset: nothing to compare
        reraise_if_interrupted()
        return None
    own = getattr(getattr(generator, "sampler", None), "guidance", None)
    if trained is None or own is None or float(own) == trained:
        return None
    return (f"{run_of(adapter)} was trained on samples made at guidance {trained:g}; this "
            f"evaluation samples at {float(own):g} (pass --guidance {trained:g} to evaluate "
            "where it was trained)")


@user_errors(on_interrupt=RERUN_RESUMES)
def eval_command(
    generator: str | None = typer.Option(None, "--generator", "-g", help="generator name "
                                         "(default: with --adapter the run's, else dso-tiny)"),
    out: Path = typer.Option(..., "--out", "-o", help="report folder (results.json, report.md, "
                             "figures)"),
    split: str = typer.Option("eval", "--split", help="eval | wild | synthetic | val (choose "
                              "settings on val, report on eval and wild)"),
    weights: Path | None = typer.Option(None, "--weights", help="generator weights folder "
                                        "(default: with --adapter the run's, else the "
                                        "generator's shipped)"),
    adapter: Path | None = typer.Option(None, "--adapter", help="training run (LoRA adapter)"),
    world: Path = typer.Option(..., "--world", help="world folder (`dso world build DIR`)"),
    limit: int | None = typer.Option(None, "--limit", min=1, help="at most N prompt images"),
    samples: int = typer.Option(1, "--samples", min=1, help="samples per prompt image"),
    seed: int = typer.Option(0, "--seed"),
    workers: int | None = typer.Option(None, "--workers", help="oracle worker processes"),
    preset: str = typer.Option("accurate", "--preset", help="oracle preset: accurate | dso"),
    threshold: float = typer.Option(20.0, "--threshold", help="stable iff the preset's angle < "
                                    "this (deg): tilt (accurate), 2*acos(w) (dso)"),
    points: int = typer.Option(10000, "--points", min=1, help="surface points per mesh for CD / F "
                               "(10k for final tables; CD has a sampling floor that depends on "
                               "it)"),
    protocol: str = typer.Option("paper", "--protocol", help="ICP before CD / F: paper = the "
                                 "release's (pairs within 0.02 of the unit cube, all points, <= "
                                 "50 iterations); dso-v1 = dso's first (uncapped, fitted on "
                                 "min(1000, a quarter) of the points), to compare with old "
                                 "reports"),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=0, help="resamples of the objects "
                                  "(each with all its views and samples) for 95% intervals of "
                                  "% Stable, % One piece, Rot., CD and F (0: no intervals)"),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="write figures"),
    guidance: float | None = guidance_option(),
    quiet: bool = quiet_option(),
    force: bool = typer.Option(False, "--force", help="replace an earlier report in --out "
                               "(once the new one is ready; nothing else is ever removed)"),
) -> None:
    """% Output, % Stable, tilt, Chamfer and F-score@0.05 of a generator on a world split.

    With --adapter, warns (and says so in the report) when the run was trained on objects of
    the split evaluated, or on any held-out split's prompts. A killed run resumes: rerun the
    same command (the rows of finished chunks of 64 images are kept in OUT/eval.partial.jsonl).
    """
    if split not in SPLITS:
        raise typer.BadParameter(f"choose one of {', '.join(SPLITS)}", param_hint="--split")
    if protocol not in PROTOCOLS:
        raise typer.BadParameter(f"choose one of {', '.join(PROTOCOLS)}",
                                 param_hint="--protocol")
    from dso.data.generate import weights_fingerprint
    from dso.eval.folders import PARTIAL_FILE, REPORT_FILES, check_out, clear_out
    from dso.eval.plots import plot_chamfer_vs_tilt, plot_tilt_histograms
    from dso.eval.report import family_table, write_report
    from dso.eval.run import evaluate
    from dso.models import get_generator

    check_out(out, force, REPORT_FILES)
    world_index = _open_world(world)  # a bad --world fails before any model is loaded
    if adapter is not None:
        generator, weights, note = _run_base(adapter, generator, weights)
        if note is not None:
            typer.echo(f"note: {note}", err=True)
    generator = generator or "dso-tiny"
    gen = get_generator(generator, weights=weights, guidance=guidance)
    base_weights = weights_fingerprint(gen)
    label, overlap = generator, None
    if adapter is not None:
        from dso.eval.leak import overlap_line, training_overlap

        overlap = training_overlap(adapter, world_index, split)
        if overlap is not None:
            typer.echo(f"warning: {overlap_line(overlap, split)}", err=True)
        from dso.train import load_adapter
        from dso.train.checkpoint import base_label, unfinished_note

        load_adapter(gen, adapter, given=base_label(generator, weights))
        if guidance is None and (note := _guidance_note(adapter, gen)) is not None:
            typer.echo(f"note: {note}", err=True)
        label = f"{generator}+{adapter.name}"
        if (note := unfinished_note(adapter)) is not None:
            typer.echo(f"note: {note}", err=True)
    result = evaluate(gen, world_index, split, samples_per_image=samples, seed=seed,
                      limit=limit, preset=preset, threshold=threshold, workers=workers,
                      n_points=points, protocol=protocol, bootstrap=bootstrap,
                      partial=out / PARTIAL_FILE, progress=not quiet)
    result["meta"].update(generator=label, adapter=None if adapter is None else str(adapter),
                          weights=None if weights is None else str(weights),
                          base_weights=base_weights, training_overlap=overlap)
    if adapter is not None:
        from dso.train.checkpoint import adapter_step

        result["meta"]["adapter_step"] = adapter_step(adapter)  # None: the run's final adapter
    clear_out(out, REPORT_FILES)
    paths = write_report(result, out)
    if plots:
        plot_tilt_histograms({label: result}, out / "tilt_hist.png", threshold=threshold)
        plot_chamfer_vs_tilt({label: result}, out / "chamfer_vs_tilt.png")
    (out / PARTIAL_FILE).unlink(missing_ok=True)  # the report holds every row now
    typer.echo(family_table(result))
    typer.echo(f"wrote {paths['json']} and {paths['markdown']}")


@user_errors()
def compare_command(
    runs: list[str] = typer.Argument(..., help="MODEL=REPORT_DIR entries; a model may repeat "
                                     "for several splits"),
    out: Path = typer.Option(..., "--out", "-o", help="folder for comparison.md/json, figures"),
    force: bool = typer.Option(False, "--force", help="replace an earlier comparison in --out"),
) -> None:
    """Models x splits table (and figures) from reports written by `dso eval`; with a model
    named `base`, also each model's paired difference from it (95% bootstrap intervals).
    Reports measured differently (points, ICP protocol, oracle settings, another world) are
    refused; differences in how they were sampled are noted."""
    from dso.eval.folders import COMPARISON_FILES, check_out, clear_out
    from dso.eval.plots import plot_chamfer_vs_tilt, plot_tilt_histograms
    from dso.eval.report import (
        comparability,
        comparison_table,
        load_result,
        paired_table,
        refresh_intervals,
        results_summary,
        save_json,
    )

    check_out(out, force, COMPARISON_FILES)
    results: dict[str, dict[str, dict]] = {}
    for entry in runs:
        model, sep, path = entry.partition("=")
        if not sep or not model or not path:
            raise typer.BadParameter(f"expected MODEL=REPORT_DIR, got {entry!r}")
        result = load_result(path)
        if refresh_intervals(result):
            typer.echo(f"note: {path}'s intervals resampled prompt images; recomputed over "
                       "objects from its rows", err=True)
        split = result["meta"]["split"]
        if split in results.get(model, {}):
            raise ValueError(f"{model} is given twice for split {split!r}: one report per "
                             "model and split")
        results.setdefault(model, {})[split] = result
    for note in comparability(results):
        typer.echo(f"note: the reports differ in {note}", err=True)
    table = comparison_table(results)
    paired = paired_table(results)
    if paired:
        table += "\n\n" + paired
    clear_out(out, COMPARISON_FILES)
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.md").write_text(table + "\n")
    save_json(results_summary(results, paired=bool(paired)), out / "comparison.json")
    for split in dict.fromkeys(s for per in results.values() for s in per):
        per_model = {m: per[split] for m, per in results.items() if split in per}
        plot_tilt_histograms(per_model, out / f"tilt_hist_{split}.png")
        plot_chamfer_vs_tilt(per_model, out / f"chamfer_vs_tilt_{split}.png")
    typer.echo(table)


def register(app: typer.Typer) -> None:
    """Add `dso eval` and `dso eval-compare` to the CLI."""
    app.command("eval")(eval_command)
    app.command("eval-compare")(compare_command)
