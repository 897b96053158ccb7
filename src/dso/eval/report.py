"""Evaluation reports: JSON and Markdown for one evaluation, and a models x splits comparison."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dso.eval.intervals import CI_METRICS, DEFAULT_RESAMPLES, paired_difference
from dso.eval.summary import ANGLE_NAMES, METRICS, angle_of_result

__all__ = [
    "comparison_table",
    "family_table",
    "format_cell",
    "format_value",
    "load_result",
    "markdown_report",
    "overall_of",
    "paired_of",
    "paired_table",
    "results_summary",
    "save_json",
    "write_report",
]

HEADERS = {
    "output_pct": "% Output", "stable_pct": "% Stable", "one_piece_pct": "% One piece",
    "rot_deg": "Rot. (deg)",
    "cd": "CD", "fscore": "F-score",
}
_FORMATS = {"output_pct": "{:.1f}", "stable_pct": "{:.1f}", "one_piece_pct": "{:.1f}",
            "rot_deg": "{:.2f}",
            "cd": "{:.4f}", "fscore": "{:.2f}"}


def format_value(metric: str, value: Any) -> str:
    """A table cell: the metric's fixed precision, or an em dash when there is no value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return _FORMATS.get(metric, "{}").format(value)


def format_cell(metric: str, numbers: Mapping[str, Any]) -> str:
    """`format_value` of numbers[metric], followed by its interval "[lo, hi]" when the numbers
    carry one (`ci`, from `dso.eval.intervals`)."""
    text = format_value(metric, numbers.get(metric))
    ci = (numbers.get("ci") or {}).get(metric)
    if ci is None or numbers.get(metric) is None:
        return text
    return f"{text} [{format_value(metric, ci[0])}, {format_value(metric, ci[1])}]"


def overall_of(result: Mapping[str, Any]) -> Mapping[str, Any]:
    """The headline numbers of a full `evaluate` result, or the mapping itself if it is one."""
    return result["overall"] if "overall" in result else result


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def family_table(result: Mapping[str, Any], metrics: Sequence[str] = METRICS) -> str:
    """Markdown table: one row per family, then the overall row; with the result's rows, the
    prompts column also counts the objects they show (what the intervals resample)."""
    header = ["family", "prompts"] + [HEADERS.get(m, m) for m in metrics]
    groups = list(result.get("families", {}).items()) + [("**overall**", result["overall"])]
    items = result.get("items")
    objects: dict[str, set] = {"**overall**": set()}
    for r in items or []:
        objects.setdefault(str(r["family"]), set()).add(r["object_id"])
        objects["**overall**"].add(r["object_id"])

    def count(name: str, numbers: Mapping[str, Any]) -> str:
        held = objects.get(name)
        if not (items and held):
            return str(numbers["n_prompts"])
        return f"{numbers['n_prompts']} ({len(held)} object{'s' if len(held) > 1 else ''})"

    rows = [[name, count(name, s)] + [format_cell(m, s) for m in metrics] for name, s in groups]
    return _table(header, rows)


def comparison_table(
    results: Mapping[str, Mapping[str, Mapping[str, Any]]],
    *,
    splits: Sequence[str] | None = None,
    metrics: Sequence[str] = METRICS,
) -> str:
    """Markdown table of models x splits, e.g. {"base": {"eval": r, "wild": r}, "dro": ...}.

    Each cell source is a full `evaluate` result or just its overall numbers. Rows are grouped
    by split (in `splits` order, default: first-seen order), models in mapping order. Numbers
    that carry a 95% interval print as "value [lo, hi]".
    """
    splits = _splits(results, splits)
    header = ["split", "model"] + [HEADERS.get(m, m) for m in metrics]
    rows = []
    for split in splits:
        for model, per_split in results.items():
            if split in per_split:
                numbers = overall_of(per_split[split])
                rows.append([split, model] + [format_cell(m, numbers) for m in metrics])
    return _table(header, rows)


def _splits(results: Mapping[str, Mapping[str, Any]], splits: Sequence[str] | None) -> list:
    if splits is not None:
        return list(splits)
    return list(dict.fromkeys(s for per_split in results.values() for s in per_split))


def _has_intervals(results: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> bool:
    return any(overall_of(r).get("ci") for per_split in results.values()
               for r in per_split.values())


def paired_of(result: Mapping[str, Any], base_result: Mapping[str, Any], *,
              n_resamples: int | None = None, seed: int = 0) -> dict[str, Any] | None:
    """The paired difference (`dso.eval.intervals.paired_difference`) of one model's result
    against the base's on the same split: taken from `vs_base` when the numbers carry it,
    else computed from both results' per-item rows; None when neither is possible."""
    mine, base = world_of(result), world_of(base_result)
    if mine is not None and base is not None and mine != base:
        raise ValueError("the two results were measured on other worlds (their rows would "
                         "pair by id and seed alone): evaluate both on the same world")
    stored = overall_of(result).get("vs_base")
    if stored is not None:
        return dict(stored)
    if "items" not in result or "items" not in base_result:
        return None
    meta = base_result.get("meta", {})
    if n_resamples is None:
        n_resamples = (meta.get("bootstrap") or {}).get("resamples") or DEFAULT_RESAMPLES
    angle = overall_of(base_result).get("rot_angle") or meta.get("rot_angle") or "tilt"
    return paired_difference(result["items"], base_result["items"], n_resamples=n_resamples,
                             seed=seed, angle=angle)


def results_summary(results: Mapping[str, Mapping[str, Mapping[str, Any]]], *,
                    paired: bool | None = None, base: str = "base") -> dict[str, Any]:
    """{model: {split: overall numbers}}: the demo's results.json shape (no per-item rows).

    With `paired` (default: when the results carry intervals), each model other than `base`
    also gets `vs_base` on the splits `base` has: its paired difference from `base` (see
    `paired_of`; needs full results with their items).
    """
    out = {model: {split: dict(overall_of(r)) for split, r in per_split.items()}
           for model, per_split in results.items()}
    if paired is None:
        paired = _has_intervals(results)
    if not paired or base not in results:
        return out
    for model, per_split in results.items():
        for split, result in per_split.items():
            if model != base and split in results[base]:
                diff = paired_of(result, results[base][split])
                if diff is not None:
                    out[model][split]["vs_base"] = {"base": base, **diff}
    return out


def _endpoint(metric: str, value: float) -> str:
    """An interval end at the metric's precision, with more digits when that would print a
    nonzero end as 0 (a bold interval must visibly exclude 0)."""
    text = format_value(metric, value)
    if value and math.isfinite(value) and float(text) == 0.0:
        return f"{value:.1g}"
    return text


def _diff_cell(metric: str, entry: Mapping[str, Any] | None) -> str:
    if not entry or entry.get("diff") is None:
        return "—"
    ci, diff = entry.get("ci"), entry["diff"]
    text = ("+" if diff > 0 else "") + format_value(metric, diff)
    if ci is not None:
        text += f" [{_endpoint(metric, ci[0])}, {_endpoint(metric, ci[1])}]"
    return f"**{text}**" if entry.get("real") else text


def paired_table(
    results: Mapping[str, Mapping[str, Mapping[str, Any]]],
    *,
    base: str = "base",
    splits: Sequence[str] | None = None,
    metrics: Sequence[str] = CI_METRICS,
) -> str:
    """Markdown table of each model minus `base` on the same prompts and seeds: the difference
    and its paired 95% bootstrap interval, **bold** where the interval excludes 0 (a real
    difference). `results` as for `comparison_table` (full results, or a `results_summary`
    with `vs_base`). Empty string when there is nothing to pair."""
    if base not in results:
        return ""
    header = ["split", f"model - {base}", "prompts"] + [f"Δ {HEADERS.get(m, m)}"
                                                        for m in metrics]
    rows, caveats = [], []
    for split in _splits(results, splits):
        for model, per_split in results.items():
            if model == base or split not in per_split or split not in results[base]:
                continue
            diff = paired_of(per_split[split], results[base][split])
            if diff is not None:
                rows.append([split, model, _prompts_cell(diff)]
                            + [_diff_cell(m, diff.get(m)) for m in metrics])
                caveats += _pairing_caveats(split, model, base, diff)
    if not rows:
        return ""
    note = ("Paired differences on the prompts and samples both models have, with 95% "
            "bootstrap intervals over objects (every view of a drawn object goes with it); "
            "**bold**: the interval excludes 0 (a real difference).")
    return "\n".join([_table(header, rows), "", note, *caveats])


def _prompts_cell(diff: Mapping[str, Any]) -> str:
    prompts, objects = diff.get("n_prompts", "—"), diff.get("n_objects")
    return f"{prompts} ({objects} objects)" if objects is not None else str(prompts)


def _pairing_caveats(split: str, model: str, base: str, diff: Mapping[str, Any]) -> list[str]:
    """Lines that say where a paired difference is not on the same samples as both tables."""
    out = []
    if not diff.get("seeds_match", True):
        out.append(f"- {split}, {model}: the matched samples were drawn with other seeds than "
                   f"{base}'s, so the pairing only matches prompts, not noise.")
    if diff.get("n_unmatched"):
        out.append(f"- {split}, {model}: {diff['n_unmatched']} sample(s) of one side have no "
                   f"match in the other (another --limit or --samples) and are left out, so "
                   "the difference is not that of the two tables' numbers.")
    return [""] + out if out else []


def _errors_section(result: Mapping[str, Any], limit: int = 10) -> str:
    failed = [r for r in result.get("items", []) if r.get("error")]
    if not failed:
        return "No item failed."
    lines = [f"{len(failed)} item(s) reported an error (first {min(limit, len(failed))}):", ""]
    lines += [f"- `{r['object_id']}` view {r['view']} sample {r['sample']}: {r['error']}"
              for r in failed[:limit]]
    return "\n".join(lines)


def markdown_report(result: Mapping[str, Any], title: str | None = None) -> str:
    """A Markdown page for one evaluation: settings, per-family table, failures."""
    meta = result.get("meta", {})
    title = title or f"Evaluation of {meta.get('generator', '?')} on split {meta.get('split', '?')}"
    verdict_angle = ANGLE_NAMES[angle_of_result(result)]
    guidance = (meta.get("sampler") or {}).get("guidance")
    settings = (f"seed {meta.get('seed')}, {meta.get('samples_per_image')} sample(s) per image, "
                + (f"guidance {guidance:g}, " if guidance is not None else "") +
                f"oracle preset `{meta.get('preset')}`, stable iff "
                f"{'one piece and ' if meta.get('preset') == 'accurate' else ''}{verdict_angle} < "
                f"{meta.get('threshold_deg')} deg, geometry on {meta.get('n_points')} points "
                f"per surface (unit cube, ICP protocol `{meta.get('protocol', 'dso-v1')}`), "
                "F-score@0.05 in percent.")
    angle = result.get("overall", {}).get("rot_angle")
    if angle:
        settings += (" Rot. = mean " + ("tilt of the up axis" if angle == "tilt" else
                                        "2*acos(w) (the release's angle)")
                     + "; `tilt_deg_mean` and `dso_angle_deg_mean` in results.json give both.")
    if meta.get("bootstrap"):
        unit = meta["bootstrap"].get("unit") or "prompt image"
        settings += (f" [lo, hi]: 95% bootstrap intervals ({meta['bootstrap'].get('resamples')}"
                     f" resamples; one draw takes one {unit}).")
    parts = [f"# {title}", settings]
    if meta.get("training_overlap"):
        from dso.eval.leak import overlap_line

        parts.append(f"**Warning: {overlap_line(meta['training_overlap'], meta.get('split'))}.**")
    return "\n\n".join([*parts, family_table(result), "## Failures",
                        _errors_section(result)]) + "\n"


def save_json(obj: Any, path: str | Path) -> Path:
    """Write strict JSON (non-finite floats become null), via a temporary file."""
    def clean(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, Mapping):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(clean(obj), indent=1, allow_nan=False) + "\n")
    tmp.replace(path)
    return path


def load_result(path: str | Path) -> dict[str, Any]:
    """Read a result written by `write_report` (a results.json file or its folder)."""
    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{path} is not a dso eval report (no results.json in it)")
    try:
        result = json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{file} is not a dso eval report: {err}") from None
    if not isinstance(result, dict) or "split" not in (result.get("meta") or {}):
        raise ValueError(f"{file} is not a dso eval report (no meta.split): pass the folder "
                         "`dso eval --out` wrote")
    return result


def refresh_intervals(result: dict[str, Any]) -> bool:
    """Recompute, in place, the intervals of a report whose bootstrap resampled another unit
    than `dso.eval.intervals.UNIT` (reports before 2026-12-01 resampled prompt images), from its
    per-item rows; True when it did. Its numbers are untouched: only the brackets change."""
    from dso.eval.intervals import UNIT, add_intervals

    meta = result.get("meta", {})
    boot = meta.get("bootstrap")
    if not boot or boot.get("unit") == UNIT or "items" not in result:
        return False
    angle = result.get("overall", {}).get("rot_angle") or meta.get("rot_angle") or "tilt"
    add_intervals(result, result["items"], n_resamples=int(boot.get("resamples") or
                                                           DEFAULT_RESAMPLES),
                  seed=int(boot.get("seed") or 0), angle=angle)
    meta["bootstrap"] = {**boot, "unit": UNIT}
    return True


# How the numbers were measured: results that differ in one of these cannot share a table.
MEASUREMENT = ("n_points", "protocol", "icp", "fscore_threshold", "fscore_scale", "preset",
               "threshold_deg", "rot_angle")
# How the samples were drawn (and the intervals resampled): a difference is shown, as models
# may sample differently.
SAMPLING = ("seed", "samples_per_image", "limit", "sampler", "bootstrap")


def comparability(results: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[str]:
    """Notes on how the results' samples were drawn differently (seed, prompts, sampler) and
    on settings an older report does not record; ValueError when they were measured
    differently (points, ICP protocol, F-score threshold, oracle preset or threshold, rotation
    angle), naming each difference."""
    entries = [(f"{model} ({split})", result.get("meta", {}))
               for model, per_split in results.items() for split, result in per_split.items()]
    if not entries:
        return []
    (first, ref), problems, notes = entries[0], [], []
    for keys, out in ((MEASUREMENT, problems), (SAMPLING, notes)):
        for key in keys:
            differ = [(name, meta.get(key)) for name, meta in entries[1:]
                      if meta.get(key) != ref.get(key)]
            if not differ:
                continue
            line = (f"{key}: {first} {ref.get(key)}, " +
                    ", ".join(f"{name} {value}" for name, value in differ))
            # a report older than the setting does not record it: shown, not refused
            unrecorded = ref.get(key) is None or any(v is None for _, v in differ)
            (notes if unrecorded else out).append(line)
    problems += _other_worlds(results)
    if problems:
        raise ValueError("these reports were measured differently and cannot be compared; "
                         "rerun dso eval with the same settings: " + "; ".join(problems))
    return notes


def world_of(result: Mapping[str, Any]) -> str | None:
    """The fingerprint of the world split a result was measured on (None: not recorded)."""
    return (result.get("meta", {}).get("world") or {}).get("fingerprint")


def _other_worlds(results: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[str]:
    """Per split, the reports measured on another world than the first that records one:
    object ids and seeds are the same in every world, so their rows would pair."""
    problems = []
    for split in dict.fromkeys(s for per in results.values() for s in per):
        worlds = {m: world_of(per[split]) for m, per in results.items() if split in per}
        recorded = {m: w for m, w in worlds.items() if w is not None}
        if len(set(recorded.values())) > 1:
            problems.append(f"world ({split}): " + ", ".join(
                f"{m} {(results[m][split]['meta']['world'] or {}).get('path')} [{w}]"
                for m, w in recorded.items()))
    return problems


def write_report(result: Mapping[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write OUT/results.json (everything, per-item rows included) and OUT/report.md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": save_json(result, out / "results.json"), "markdown": out / "report.md"}
    paths["markdown"].write_text(markdown_report(result))
    return paths
