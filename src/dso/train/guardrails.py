"""Guardrails: periodic held-out evaluation and a warning when geometry degrades.

Too much DRO/DPO lets the model "cheat" by growing a flat plate under the object
(docs/method.md §Geometry guardrail): stability rises while geometry fidelity falls. The recipe
calls an evaluation hook every `eval_every` steps (and once before training, as the baseline);
the hook is any callable

    eval_fn(generator, step) -> {"stable_pct": ..., "cd": ..., "fscore": ..., ...}

(keys as in the demo's results.json; `dso.eval` provides one). `GeometryGuard` compares each
evaluation with the baseline and returns warnings when F-score (percent) drops by more than
`fscore_drop` points or Chamfer distance rises by more than `cd_rise` (relative).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from dso.interrupts import reraise_if_interrupted

EvalFn = Callable[[Any, int], Mapping[str, float]]


class GeometryDegradedWarning(UserWarning):
    """Geometry fidelity fell beyond tolerance relative to the base model."""


def _finite(metrics: Mapping[str, Any], key: str) -> float | None:
    value = metrics.get(key)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


@dataclass
class GeometryGuard:
    """Flags evaluations whose geometry is worse than the first (baseline) one."""

    fscore_drop: float = 1.0          # points of F-score (percent) below baseline
    cd_rise: float = 0.05             # relative rise of Chamfer distance over baseline
    baseline: dict[str, float] | None = field(default=None)

    def check(self, metrics: Mapping[str, Any]) -> list[str]:
        """Record the first call as baseline; afterwards return one message per breach."""
        if self.baseline is None:
            self.baseline = {k: float(v) for k, v in metrics.items()
                             if _finite(metrics, k) is not None}
            return []
        problems = []
        f0, f1 = self.baseline.get("fscore"), _finite(metrics, "fscore")
        if f0 is not None and f1 is not None and f1 < f0 - self.fscore_drop:
            problems.append(f"F-score fell from {f0:.2f} to {f1:.2f} (> {self.fscore_drop} pt)")
        c0, c1 = self.baseline.get("cd"), _finite(metrics, "cd")
        if c0 is not None and c1 is not None and c0 > 0 and c1 > c0 * (1 + self.cd_rise):
            problems.append(f"Chamfer distance rose from {c0:.4f} to {c1:.4f} "
                            f"(> {100 * self.cd_rise:.0f}%)")
        return problems


def run_eval(eval_fn: EvalFn, generator: Any, step: int, guard: GeometryGuard) -> dict[str, Any]:
    """Call the hook with the flow in eval mode and no gradients; warn on degraded geometry.

    Returns a record {"step", metrics..., "geometry_warnings": [...]}. A failing hook is
    reported in the record ("error") and never stops training.
    """
    flow = generator.flow
    was_training = flow.training
    flow.eval()
    try:
        with torch.no_grad():
            metrics = dict(eval_fn(generator, step))
    except Exception as err:  # noqa: BLE001 - one bad evaluation must not stop training
        reraise_if_interrupted()
        warnings.warn(f"evaluation at step {step} failed: {err!r}", RuntimeWarning, stacklevel=2)
        return {"step": step, "error": repr(err)}
    finally:
        flow.train(was_training)
    problems = guard.check(metrics)
    for message in problems:
        warnings.warn(f"step {step}: geometry degraded: {message}; the model may be growing "
                      "a flat plate to stand (stop earlier or bound the ascent term)",
                      GeometryDegradedWarning, stacklevel=2)
    return {"step": step, **metrics, "geometry_warnings": problems}
