"""Evaluation (docs/method.md §Evaluation): % Output, % Stable, Rot., Chamfer distance and
F-score@0.05 (percent) per family and overall, with 95% bootstrap intervals over objects and
paired differences from a base model; JSON / Markdown reports and figures.

    from dso.eval import evaluate, write_report
    result = evaluate(get_generator("dso-tiny"), World.open(path), "eval")
    write_report(result, "reports/base-eval")

Names are imported on first use, so `dso --help` does not pay for trimesh and scipy.
"""

from __future__ import annotations

from dso._lazy import lazy_exports

_EXPORTS = {
    "chamfer_fscore": "dso.eval.metrics",
    "IcpSettings": "dso.eval.icp",
    "PROTOCOLS": "dso.eval.icp",
    "icp_align": "dso.eval.icp",
    "icp_fit": "dso.eval.icp",
    "bootstrap_intervals": "dso.eval.intervals",
    "paired_difference": "dso.eval.intervals",
    "normalize_unit_cube": "dso.eval.metrics",
    "prepare_target": "dso.eval.metrics",
    "comparison_table": "dso.eval.report",
    "load_result": "dso.eval.report",
    "paired_table": "dso.eval.report",
    "results_summary": "dso.eval.report",
    "write_report": "dso.eval.report",
    "evaluate": "dso.eval.run",
    "make_eval_fn": "dso.eval.run",
    "select_prompts": "dso.eval.run",
    "METRICS": "dso.eval.summary",
    "summarize_rows": "dso.eval.summary",
    "compare_gallery": "dso.eval.gallery",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
