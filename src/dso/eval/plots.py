"""Evaluation figures (matplotlib, no display needed): stability over training steps, tilt
histograms, Chamfer vs tilt (the paper's Fig. 5) and a picture grid of base vs tuned objects."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from dso.eval.summary import ANGLE_NAMES, ANGLES, angle_of_result, pieces_rule
from dso.interrupts import reraise_if_interrupted

__all__ = [
    "chamfer_vs_tilt_figure",
    "plot_chamfer_vs_tilt",
    "plot_stability_over_steps",
    "plot_tilt_histograms",
    "picture_grid",
    "read_eval_log",
    "tilt_histogram_figure",
]

EVAL_LOG = "eval.jsonl"  # written by dso.train in each run folder: {"step", "stable_pct", ...}


def _save(fig: Figure, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    return out


def read_eval_log(run: str | Path) -> list[dict[str, Any]]:
    """Records of a run's evaluation log (RUN/eval.jsonl, or a .jsonl path), by step.
    A torn last line is skipped; records without a step are dropped."""
    path = Path(run)
    path = path / EVAL_LOG if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no evaluation log at {path}")
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("step") is not None:
            records.append(record)
    return sorted(records, key=lambda r: r["step"])


def plot_stability_over_steps(
    runs: Mapping[str, str | Path | Sequence[Mapping[str, Any]]],
    out: str | Path,
    *,
    metrics: Sequence[str] = ("stable_pct", "fscore"),
) -> Path:
    """One panel per metric, one line per run, against the training step.

    Each run is a run folder / eval log path, or its records ({"step", metric, ...})."""
    logs = {name: read_eval_log(r) if isinstance(r, (str, Path)) else list(r)
            for name, r in runs.items()}
    fig = Figure(figsize=(4.2 * len(metrics), 3.2))
    for i, metric in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), i + 1)
        for name, records in logs.items():
            pts = [(r["step"], r[metric]) for r in records if r.get(metric) is not None]
            if pts:
                steps, values = zip(*pts, strict=True)
                ax.plot(steps, values, marker="o", markersize=3, label=name)
        ax.set_xlabel("training step")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, out)


def _column(result: Mapping[str, Any], key: str) -> np.ndarray:
    return np.array([r[key] for r in result["items"] if r.get(key) is not None], dtype=float)


def _meta(results: Mapping[str, Mapping[str, Any]], key: str) -> Any:
    """`key` of the first result's meta that records it (None if none does)."""
    return next((r["meta"][key] for r in results.values() if r.get("meta", {}).get(key)
                 is not None), None)


def _angle(results: Mapping[str, Mapping[str, Any]]) -> tuple[str, str, str]:
    """The angle the first result's verdicts used: its item key, its name, the axis label."""
    angle = angle_of_result(next(iter(results.values()), {}))
    label = "equilibrium tilt" if angle == "tilt" else f"final rotation {ANGLE_NAMES[angle]}"
    return ANGLES[angle], ANGLE_NAMES[angle], f"{label} (deg)"


def _in_pieces(result: Mapping[str, Any], key: str) -> int | None:
    """Outputs of several pieces (unstable whatever their tilt); None without a pieces count."""
    counts = [r.get("pieces") for r in result["items"] if r.get(key) is not None]
    if not any(c is not None for c in counts):
        return None
    return sum(1 for c in counts if c is not None and c > 1)


def plot_tilt_histograms(
    results: Mapping[str, Mapping[str, Any]],
    out: str | Path,
    *,
    threshold: float | None = None,
    bins: int = 36,
) -> Path:
    """`tilt_histogram_figure` saved to `out`."""
    return _save(tilt_histogram_figure(results, threshold=threshold, bins=bins), out)


def tilt_histogram_figure(
    results: Mapping[str, Mapping[str, Any]],
    *,
    threshold: float | None = None,
    bins: int = 36,
) -> Figure:
    """Overlaid histograms of the equilibrium angle the verdicts used (tilt; 2*acos(w) for the
    dso preset) per model; dashed line at the threshold (default: the one the reports were
    labelled with). The legend counts each model's outputs in several pieces, which are
    unstable whatever their tilt where the preset says so, and the title names the split."""
    key, what, label = _angle(results)
    pieces_unstable = pieces_rule(next(iter(results.values()), {}))
    if threshold is None:
        threshold = _meta(results, "threshold_deg") or 20.0
    fig = Figure(figsize=(5.5, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    edges = np.linspace(0.0, 180.0, bins + 1)
    widths = np.linspace(2.8, 1.2, max(2, len(results)))  # outlines that coincide stay visible
    for (name, result), width in zip(results.items(), widths, strict=False):
        tilts = _column(result, key)
        pieces = _in_pieces(result, key)
        extra = "" if pieces is None else f", {pieces} in pieces"
        ax.hist(np.clip(tilts, 0, 180), bins=edges, histtype="step", linewidth=width,
                label=f"{name} (n={len(tilts)}{extra})")
    ax.axvline(threshold, color="k", linestyle="--", linewidth=1, label=f"{threshold:g} deg")
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.5)  # a bin of one sample shows as a bar, however few the samples
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(label)
    ax.set_ylabel("samples")
    split = _meta(results, "split")
    ax.set_title(("" if split is None else f"{split} split: ") + f"{what} of every output"
                 + (" (in pieces: unstable at any tilt)" if pieces_unstable else ""), fontsize=9)
    ax.legend(fontsize=8)
    return fig


def plot_chamfer_vs_tilt(results: Mapping[str, Mapping[str, Any]], out: str | Path) -> Path:
    """`chamfer_vs_tilt_figure` saved to `out`."""
    return _save(chamfer_vs_tilt_figure(results), out)


def chamfer_vs_tilt_figure(results: Mapping[str, Mapping[str, Any]]) -> Figure:
    """Per-sample Chamfer distance against the equilibrium angle the verdicts used (tilt;
    2*acos(w) for the dso preset), one colour per model."""
    key, _, label = _angle(results)
    fig = Figure(figsize=(5.5, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    for name, result in results.items():
        pts = [(r[key], r["cd"]) for r in result["items"]
               if r.get(key) is not None and r.get("cd") is not None]
        if pts:
            tilt, cd = np.array(pts, dtype=float).T
            ax.scatter(tilt, cd, s=8, alpha=0.5, label=name)
    meta = next(iter(results.values()), {}).get("meta", {})
    threshold = meta.get("threshold_deg")
    if threshold is not None:
        ax.axvline(float(threshold), color="k", lw=0.8, ls="--",
                   label=f"stable below {float(threshold):g} deg")
    ax.set_xlabel(label)
    ax.set_ylabel("Chamfer distance (unit cube)")
    # CD's sampling floor depends on the points and the ICP protocol: name them
    ax.set_title(f"split {meta.get('split', '?')}: {meta.get('n_points', '?')} points, "
                 f"ICP {meta.get('protocol', '?')}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _render_or_blank(mesh, size: int) -> tuple[np.ndarray, str | None]:
    if mesh is None:
        return np.zeros((size, size, 3), np.uint8), "no output"
    from dso.render import render_mesh

    try:
        return render_mesh(mesh, size=size), None
    except Exception as err:  # one unrenderable mesh must not lose the figure
        reraise_if_interrupted()
        return np.zeros((size, size, 3), np.uint8), f"render failed: {type(err).__name__}"


def picture_grid(
    rows: Sequence[tuple[np.ndarray, Sequence[Any]]],
    columns: Sequence[str],
    out: str | Path,
    *,
    size: int = 96,
    row_labels: Sequence[str] | None = None,
    captions: Sequence[Sequence[str | None]] | None = None,
) -> Path:
    """A grid: one row per prompt, `prompt image | render of each model's mesh`.

    `rows` holds (prompt image, [mesh or None per model]); `columns` names the models;
    `captions[i][j]`, when given, is written under model j's render in row i (the verdict)."""
    if not rows:
        raise ValueError("picture_grid needs at least one row")
    n_cols = 1 + len(columns)
    fig = Figure(figsize=(1.6 * n_cols, 1.6 * len(rows)))
    for i, (image, meshes) in enumerate(rows):
        if len(meshes) != len(columns):
            raise ValueError(f"row {i} has {len(meshes)} meshes for {len(columns)} columns")
        cells = [(image, None)] + [_render_or_blank(m, size) for m in meshes]
        for j, (picture, note) in enumerate(cells):
            ax = fig.add_subplot(len(rows), n_cols, i * n_cols + j + 1)
            ax.imshow(picture)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(["prompt", *columns][j], fontsize=9)
            if j == 0 and row_labels is not None:
                ax.set_ylabel(row_labels[i], fontsize=7)
            if note:
                ax.text(0.5, 0.5, note, color="w", ha="center", va="center",
                        fontsize=7, transform=ax.transAxes)
            if j > 0 and captions is not None and captions[i][j - 1]:
                ax.set_xlabel(captions[i][j - 1], fontsize=7, labelpad=2)
    return _save(fig, out)
