"""The shape study's report: its table (intervals and paired differences to base) and its
Fig. 6 (val stability and F against training steps and against dataset size).

`benchmarks/shape_study.py` runs the rows and calls these; they read only its records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _cell(overall: dict[str, Any], ci: dict[str, Any], metric: str, fmt: str) -> str:
    value, interval = overall.get(metric), ci.get(metric)
    if value is None:
        return "-"
    text = fmt.format(value)
    return text if not interval else f"{text} [{', '.join(fmt.format(x) for x in interval)}]"


def _diff(record: dict[str, Any], base: dict[str, Any], metric: str, fmt: str) -> str:
    from dso.eval.intervals import paired_difference

    if record is base:
        return "-"
    d = paired_difference(record["items"], base["items"], metrics=(metric,))[metric]
    if d["diff"] is None:
        return "-"
    mark = "**" if d["real"] else ""
    lo, hi = (fmt.format(x) for x in d["ci"])
    return f"{mark}{fmt.format(d['diff'])}{mark} [{lo}, {hi}]"


def table(records: list[dict[str, Any]], base: dict[str, Any]) -> str:
    """Markdown: one row per configuration, with intervals and the paired difference to base:
    a trained row against base sampled at the row's evaluation guidance (when that base row
    exists), an untrained row against `base`."""
    bases = {r["row"]["eval_guidance"]: r for r in records if r["row"]["train"] is None}
    head = ("| question | configuration | % stable | % one piece | F-score | CD | "
            "Δ stable vs base | Δ F vs base | train s |")
    lines = [head, "|" + "---|" * 9]
    from dso.eval.intervals import bootstrap_intervals

    for rec in records:
        o, row = rec["overall"], rec["row"]
        # resampled here from the row's items (over objects, as dso.eval.intervals does now),
        # not read from the cached row, which older runs resampled by prompt image
        ci = bootstrap_intervals(rec["items"], angle=o.get("rot_angle") or "tilt")
        ref = bases.get(row["eval_guidance"], base) if row["train"] is not None else base
        lines.append(
            f"| {row['question']} | {row['name']} | {_cell(o, ci, 'stable_pct', '{:.1f}')} | "
            f"{_cell(o, ci, 'one_piece_pct', '{:.1f}')} | {_cell(o, ci, 'fscore', '{:.1f}')} | "
            f"{_cell(o, ci, 'cd', '{:.4f}')} | {_diff(rec, ref, 'stable_pct', '{:+.1f}')} | "
            f"{_diff(rec, ref, 'fscore', '{:+.1f}')} | {rec['train_seconds']:.0f} |")
    return "\n".join(lines)


def _legend_below(axis, twin) -> None:
    """One legend for an axis and its twin, below the plot, where it covers no data."""
    handles, labels = axis.get_legend_handles_labels()
    more, more_labels = twin.get_legend_handles_labels()
    axis.legend(handles + more, labels + more_labels, loc="upper center", fontsize=7, ncol=3,
                bbox_to_anchor=(0.5, -0.18), frameon=False)


def plot_fig6(curves: dict[str, list[dict]], sizes: list[dict[str, Any]], path: Path,
              base: dict[str, Any]) -> None:
    """Left: stable and F on val against steps (DRO, DPO); right: against dataset size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    left, right = axes
    twin = left.twinx()
    for (name, records), colour in zip(curves.items(), ("tab:blue", "tab:orange"), strict=False):
        good = [r for r in records if "stable_pct" in r]
        steps = [r["step"] for r in good]
        left.plot(steps, [r["stable_pct"] for r in good], "-o", color=colour,
                  label=f"{name} stable")
        twin.plot(steps, [r["fscore"] for r in good], "--s", color=colour, label=f"{name} F")
        warned = [r for r in good if r.get("geometry_warnings")]
        twin.scatter([r["step"] for r in warned], [r["fscore"] for r in warned], s=110,
                     facecolors="none", edgecolors=colour, linewidths=1.2,
                     label=f"{name}: guardrail warned")
    left.set_xlabel("training step")
    left.set_ylabel("% stable (val)")
    twin.set_ylabel("F-score (val, dashed)")
    left.set_title("against steps (circled: the guardrail warned)")
    _legend_below(left, twin)
    right2 = right.twinx()
    for label, colour in (("DRO", "tab:blue"), ("DPO", "tab:orange"), ("SFT", "tab:green")):
        mine = [r for r in sizes if r["row"]["name"].startswith(label)]
        n = [4 * r["row"]["train"]["max_prompts"] for r in mine]
        right.plot(n, [r["overall"]["stable_pct"] for r in mine], "-o", color=colour,
                   label=f"{label} stable")
        right2.plot(n, [r["overall"]["fscore"] for r in mine], "--s", color=colour,
                    label=f"{label} F")
    right.set_xscale("log")
    ticks = sorted({4 * r["row"]["train"]["max_prompts"] for r in sizes})
    right.set_xticks(ticks, [str(n) for n in ticks])
    right.minorticks_off()
    for axis, key in ((right, "stable_pct"), (right2, "fscore")):
        axis.axhline(base["overall"][key], color="grey", lw=0.8,
                     ls="-" if key == "stable_pct" else "--")
    right.set_xlabel("labelled samples in the dataset (grey: base)")
    right.set_ylabel("% stable (val)")
    right2.set_ylabel("F-score (val, dashed)")
    right.set_title("against dataset size (lr 2e-4 recipe)")
    _legend_below(right, right2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
