"""Evaluation reports: JSON and Markdown for one evaluation, and a models x splits comparison."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dso.eval.summary import METRICS

__all__ = [
    "comparison_table",
    "family_table",
    "format_value",
    "load_result",
    "markdown_report",
    "overall_of",
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


def overall_of(result: Mapping[str, Any]) -> Mapping[str, Any]:
    """The headline numbers of a full `evaluate` result, or the mapping itself if it is one."""
    return result["overall"] if "overall" in result else result


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def family_table(result: Mapping[str, Any], metrics: Sequence[str] = METRICS) -> str:
    """Markdown table: one row per family, then the overall row."""
    header = ["family", "prompts"] + [HEADERS.get(m, m) for m in metrics]
    groups = list(result.get("families", {}).items()) + [("**overall**", result["overall"])]
    rows = [[name, str(s["n_prompts"])] + [format_value(m, s.get(m)) for m in metrics]
            for name, s in groups]
    return _table(header, rows)


def comparison_table(
    results: Mapping[str, Mapping[str, Mapping[str, Any]]],
    *,
    splits: Sequence[str] | None = None,
    metrics: Sequence[str] = METRICS,
) -> str:
    """Markdown table of models x splits, e.g. {"base": {"eval": r, "wild": r}, "dro": ...}.

    Each cell source is a full `evaluate` result or just its overall numbers. Rows are grouped
    by split (in `splits` order, default: first-seen order), models in mapping order.
    """
    if splits is None:
        splits = list(dict.fromkeys(s for per_split in results.values() for s in per_split))
    header = ["split", "model"] + [HEADERS.get(m, m) for m in metrics]
    rows = []
    for split in splits:
        for model, per_split in results.items():
            if split in per_split:
                numbers = overall_of(per_split[split])
                rows.append([split, model] + [format_value(m, numbers.get(m)) for m in metrics])
    return _table(header, rows)


def results_summary(results: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """{model: {split: overall numbers}}: the demo's results.json shape (no per-item rows)."""
    return {model: {split: dict(overall_of(r)) for split, r in per_split.items()}
            for model, per_split in results.items()}


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
    settings = (f"seed {meta.get('seed')}, {meta.get('samples_per_image')} sample(s) per image, "
                f"oracle preset `{meta.get('preset')}`, stable iff "
                f"{'one piece and ' if meta.get('preset') == 'accurate' else ''}tilt < "
                f"{meta.get('threshold_deg')} deg, geometry on {meta.get('n_points')} points "
                "per surface (unit cube, ICP), F-score@0.05 in percent.")
    return "\n\n".join([f"# {title}", settings, family_table(result), "## Failures",
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
    return json.loads((path / "results.json" if path.is_dir() else path).read_text())


def write_report(result: Mapping[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write OUT/results.json (everything, per-item rows included) and OUT/report.md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": save_json(result, out / "results.json"), "markdown": out / "report.md"}
    paths["markdown"].write_text(markdown_report(result))
    return paths
