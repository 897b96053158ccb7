"""The demo's outputs: results.json, report.md, figures, and the table printed at the end."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dso.demo.config import DemoConfig
from dso.interrupts import reraise_if_interrupted

GOAL_NOTE = ("Goals (eval split unless named): DRO closes >= 90% of base's instability gap "
             "(paper: 93%); DRO's F-score at most 0.5 point below base and Chamfer at most 3% "
             "above; DRO >= DPO >= SFT on stability; in the wild, DRO and DPO each beat base.")


def gap_closed(base_stable: float | None, tuned_stable: float | None) -> float | None:
    """Fraction of the base model's instability gap (100 - % stable) that tuning closed."""
    if base_stable is None or tuned_stable is None or base_stable >= 100.0:
        return None
    return (tuned_stable - base_stable) / (100.0 - base_stable)


def goals(summary: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """The goals on the eval split (and the wild one), each with its measured value."""
    ev = {m: summary[m]["eval"] for m in summary}
    s = {m: ev[m].get("stable_pct") for m in ev}
    closed = gap_closed(s["base"], s["dro"])
    f_base, f_dro = ev["base"].get("fscore"), ev["dro"].get("fscore")
    cd_base, cd_dro = ev["base"].get("cd"), ev["dro"].get("cd")
    wild = {m: summary[m].get("wild", {}).get("stable_pct") for m in summary}
    out = {
        "dro_gap_closed": closed,
        "dro_gap_closed_ok": closed is not None and closed >= 0.90,
        "dpo_improves": s["dpo"] is not None and s["base"] is not None and s["dpo"] > s["base"],
        "dro_ge_dpo_ge_sft": None not in (s["dro"], s["dpo"], s["sft"])
        and s["dro"] >= s["dpo"] >= s["sft"],
        "fscore_drop": None if None in (f_base, f_dro) else f_base - f_dro,
        "cd_ratio": None if None in (cd_base, cd_dro) or not cd_base else cd_dro / cd_base,
        "wild_dro_and_dpo_beat_base": None not in (wild.get("base"), wild.get("dro"),
                                                   wild.get("dpo"))
        and wild["dro"] > wild["base"] and wild["dpo"] > wild["base"],
    }
    out["geometry_ok"] = (out["fscore_drop"] is not None and out["fscore_drop"] <= 0.5
                          and out["cd_ratio"] is not None and out["cd_ratio"] <= 1.03)
    return out


def _figures(out: Path, results: Mapping[str, Mapping[str, Any]], runs: Mapping[str, Any],
             cfg: DemoConfig, log: Callable[[str], None]) -> dict[str, str]:
    from dso.eval.gallery import compare_gallery
    from dso.eval.plots import plot_chamfer_vs_tilt, plot_tilt_histograms
    from dso.world import World

    figs = out / "figures"
    made = {}
    eval_results = {m: results[m]["eval"] for m in results}
    made["tilt_hist"] = plot_tilt_histograms(eval_results, figs / "tilt_hist.png")
    made["chamfer_vs_tilt"] = plot_chamfer_vs_tilt(eval_results, figs / "chamfer_vs_tilt.png")
    generators = {model: cfg.generator(runs.get(model)) for model in ("base", "dro")}
    try:
        made["gallery"] = compare_gallery(generators, World.open(out / "world"), "eval",
                                          figs / "base_vs_dro.png", n_prompts=8, seed=cfg.seed,
                                          limit=cfg.eval_limit)
    except Exception as err:  # a figure must never lose the numbers
        reraise_if_interrupted()
        log(f"   gallery skipped: {err}")
    return {k: str(Path(v).relative_to(out)) for k, v in made.items()}


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def _markdown(summary, stats, timings, cfg: DemoConfig, figs: dict[str, str],
              met: dict[str, Any]) -> str:
    from dso.eval.report import comparison_table, paired_table

    lines = ["# DSO demo report", "",
             f"Built-in model `dso-tiny` on the built-in world; configuration: `{cfg.to_dict()}`.",
             "", "## Results", "", comparison_table(summary, splits=["eval", "wild"]), "",
             "Brackets: 95% bootstrap intervals over objects. Each model minus base on the same "
             "prompts and seeds (**bold**: the interval excludes 0, a real difference):", "",
             paired_table(summary, splits=["eval", "wild"]), "",
             GOAL_NOTE, "", "| goal | value | met |", "|---|---|---|"]
    closed = met["dro_gap_closed"]
    lines += [
        f"| DRO closes >= 90% of the gap | {'—' if closed is None else f'{100 * closed:.0f}%'} "
        f"| {met['dro_gap_closed_ok']} |",
        f"| DPO improves on base | | {met['dpo_improves']} |",
        f"| DRO >= DPO >= SFT | | {met['dro_ge_dpo_ge_sft']} |",
        f"| DRO keeps the shape (F drop <= 0.5, CD ratio <= 1.03) | F drop "
        f"{_num(met['fscore_drop'])}, CD ratio {_num(met['cd_ratio'])} | {met['geometry_ok']} |",
        f"| in the wild, DRO and DPO beat base | | {met['wild_dro_and_dpo_beat_base']} |", "",
        "## Dataset", "", f"```\n{stats.get('overall', stats)}\n```", "",
        "## Time per stage (s)", "",
        "\n".join(f"- {k}: {v}" for k, v in timings.items()), "", "## Figures", ""]
    lines += [f"![{name}]({path})" for name, path in figs.items()]
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, results: Mapping[str, Mapping[str, Any]],
                  runs: Mapping[str, Any], stats: Mapping[str, Any],
                  timings: Mapping[str, float], cfg: DemoConfig,
                  log: Callable[[str], None] = print) -> dict[str, Any]:
    """Write results.json, report.md and figures into `out`; print the table; return summary."""
    from dso.eval.report import comparison_table, paired_table, results_summary, save_json

    summary = results_summary(results)
    met = goals(summary)
    save_json({**summary, "goals": met, "timings_s": dict(timings)}, out / "results.json")
    figs = _figures(out, results, runs, cfg, log)
    (out / "report.md").write_text(_markdown(summary, stats, timings, cfg, figs, met))
    log("")
    log(comparison_table(summary, splits=["eval", "wild"]))
    log("\nEach model minus base, same prompts and seeds (**bold**: a real difference):\n")
    log(paired_table(summary, splits=["eval", "wild"]))
    closed = met["dro_gap_closed"]
    log(f"\nDRO closed {'—' if closed is None else f'{100 * closed:.0f}%'} of the base model's "
        f"instability gap on the eval split; total {timings.get('total', 0):.0f} s.")
    log(f"Wrote {out / 'results.json'} and {out / 'report.md'}")
    return summary
