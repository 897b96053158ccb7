"""95% bootstrap intervals over objects, and paired model-vs-base differences.

The unit of resampling is the object: a resample draws as many objects as there are, with
replacement, and every prompt image (view) and sample of a drawn object goes with it. The views
of one object are not independent (the 12 views of an eval object mostly share its fate), so
resampling images would treat 780 correlated images as 780 independent ones and give intervals
too narrow; on the wild split, one image per object, the two units coincide. Each resample
recomputes the same pooled number `summarize` reports (e.g. % Stable = stable outputs / outputs
over the drawn rows), and the interval is the 2.5th-97.5th percentile of those numbers (the
percentile bootstrap). Paired: two evaluations on the same prompts and seeds (rows matched by
object_id, view, sample) are resampled with the same draws, so the interval of their difference
leaves out the object-to-object spread both share. A difference whose interval excludes 0 is
called real.

Seeded and deterministic; vectorised (one (B, U) weight matrix per call, U units): 1000
resamples of 780 prompts take a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dso.eval.summary import ANGLES, count_prompts

__all__ = [
    "CI_METRICS",
    "DEFAULT_RESAMPLES",
    "add_intervals",
    "bootstrap_distribution",
    "bootstrap_intervals",
    "bootstrap_weights",
    "paired_difference",
]

# Numbers that get an interval (% Output is not resampled: it is rarely below 100).
CI_METRICS = ("stable_pct", "one_piece_pct", "rot_deg", "cd", "fscore")
DEFAULT_RESAMPLES = 1000
LEVEL = 0.95
UNIT = "object (all its views and samples)"  # what one draw of the bootstrap takes
MIN_OBJECTS = 2  # fewer: no interval (with few more, percentile intervals run narrow)


def _row_value(row: Mapping[str, Any], metric: str, angle: str, pieces: bool) -> float | None:
    """What one row adds to `metric` (None: the row is not in its denominator), as summarize."""
    if metric == "output_pct":
        return 100.0 if row["output"] else 0.0
    if not row["output"]:
        return None
    if metric == "stable_pct":
        return 100.0 if row["stable"] else 0.0
    if metric == "one_piece_pct":
        return (100.0 if row.get("pieces") == 1 else 0.0) if pieces else None
    value = row.get(ANGLES[angle] if metric == "rot_deg" else metric)
    return None if value is None else float(value)


def _unit_sums(rows: Sequence[Mapping[str, Any]], units: Sequence[str], metrics,
               angle: str, pieces: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ref (M,), num (U, M), den (U, M)): per unit (object), the count of rows in each metric
    and the sum of (value - ref), ref being the first value met (so all-equal values sum to
    exactly 0)."""
    index = {u: i for i, u in enumerate(units)}
    ref = np.full(len(metrics), np.nan)
    num = np.zeros((len(units), len(metrics)))
    den = np.zeros((len(units), len(metrics)))
    for row in rows:
        i = index[str(row["object_id"])]
        for m, metric in enumerate(metrics):
            value = _row_value(row, metric, angle, pieces)
            if value is None:
                continue
            if np.isnan(ref[m]):
                ref[m] = value
            num[i, m] += value - ref[m]
            den[i, m] += 1.0
    return ref, num, den


def _units(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(str(r["object_id"]) for r in rows))


def bootstrap_weights(n_units: int, n_resamples: int = DEFAULT_RESAMPLES,
                      seed: int = 0) -> np.ndarray:
    """(n_resamples, n_units) counts: how often each unit is drawn in each resample."""
    if n_units < 1 or n_resamples < 1:
        raise ValueError(f"need n_units and n_resamples >= 1, got {n_units}, {n_resamples}")
    draws = np.random.default_rng(seed).integers(0, n_units, size=(n_resamples, n_units))
    flat = draws + n_units * np.arange(n_resamples)[:, None]
    counts = np.bincount(flat.ravel(), minlength=n_resamples * n_units)
    return counts.reshape(n_resamples, n_units).astype(np.float64)


def _stats(weights: np.ndarray, ref: np.ndarray, num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """(B, M) pooled numbers of each resample; nan where a resample has no row for a metric."""
    total = weights @ den
    with np.errstate(invalid="ignore", divide="ignore"):
        return ref + (weights @ num) / np.where(total > 0, total, np.nan)


def _interval(values: np.ndarray, level: float) -> list[float] | None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return None
    tail = 50.0 * (1.0 - level)
    lo, hi = np.percentile(finite, [tail, 100.0 - tail])
    return [float(lo), float(hi)]


def _pieces(rows: Sequence[Mapping[str, Any]]) -> bool:
    return any(r.get("pieces") is not None for r in rows)


def bootstrap_distribution(
    rows: Sequence[Mapping[str, Any]],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    angle: str = "tilt",
    metrics: Sequence[str] = CI_METRICS,
    pieces: bool | None = None,
) -> dict[str, np.ndarray]:
    """{metric: (n_resamples,) array}: the number `summarize(rows)` reports, recomputed on each
    resample of the objects (nan where a resample has no row for it)."""
    units = _units(rows)
    if not units:
        return {m: np.full(n_resamples, np.nan) for m in metrics}
    pieces = _pieces(rows) if pieces is None else pieces
    ref, num, den = _unit_sums(rows, units, metrics, angle, pieces)
    stats = _stats(bootstrap_weights(len(units), n_resamples, seed), ref, num, den)
    return {m: stats[:, k] for k, m in enumerate(metrics)}


def bootstrap_intervals(
    rows: Sequence[Mapping[str, Any]],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
    angle: str = "tilt",
    metrics: Sequence[str] = CI_METRICS,
    pieces: bool | None = None,
) -> dict[str, list[float] | None]:
    """{metric: [lo, hi]}: percentile bootstrap interval over objects of each number that
    `summarize(rows)` reports (None where it has none, e.g. one_piece_pct without pieces, and
    for every metric when the rows hold fewer than `MIN_OBJECTS` objects: resampling one object
    gives a zero-width interval that reads as certainty)."""
    if len(_units(rows)) < MIN_OBJECTS:
        return {m: None for m in metrics}
    dist = bootstrap_distribution(rows, n_resamples=n_resamples, seed=seed, angle=angle,
                                  metrics=metrics, pieces=pieces)
    return {m: _interval(values, level) for m, values in dist.items()}


def _by_key(rows: Sequence[Mapping[str, Any]]) -> dict[tuple, Mapping[str, Any]]:
    return {(str(r["object_id"]), r["view"], r["sample"]): r for r in rows}


def paired_difference(
    rows: Sequence[Mapping[str, Any]],
    base_rows: Sequence[Mapping[str, Any]],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
    angle: str = "tilt",
    metrics: Sequence[str] = CI_METRICS,
) -> dict[str, Any]:
    """Model minus base on the rows both have (matched by object_id, view, sample).

    Returns {"n_prompts", "n_objects", "n_matched", "n_unmatched", "seeds_match", metric:
    {"diff", "ci", "real"}}: the difference of the pooled numbers, its paired bootstrap interval
    (both sides resampled with the same object draws) and whether that interval excludes 0.
    diff/ci are None where either side has no value. n_unmatched counts the rows of either side
    the other lacks (left out of the difference).
    """
    mine, theirs = _by_key(rows), _by_key(base_rows)
    keys = [k for k in mine if k in theirs]
    out: dict[str, Any] = {
        "n_matched": len(keys),
        "n_unmatched": len(mine) + len(theirs) - 2 * len(keys),
        "seeds_match": all(mine[k].get("seed") == theirs[k].get("seed") for k in keys),
    }
    a, b = [mine[k] for k in keys], [theirs[k] for k in keys]
    units = _units(a)
    out["n_prompts"], out["n_objects"] = count_prompts(a), len(units)
    pieces = _pieces(a) and _pieces(b)
    if not units:
        return {**out, **{m: {"diff": None, "ci": None, "real": False} for m in metrics}}
    weights = bootstrap_weights(len(units), n_resamples, seed)
    ones = np.ones((1, len(units)))
    sides = [_unit_sums(side, units, metrics, angle, pieces) for side in (a, b)]
    point = _stats(ones, *sides[0])[0] - _stats(ones, *sides[1])[0]
    diffs = _stats(weights, *sides[0]) - _stats(weights, *sides[1])
    for k, m in enumerate(metrics):
        ci = (_interval(diffs[:, k], level)
              if np.isfinite(point[k]) and len(units) >= MIN_OBJECTS else None)
        out[m] = {"diff": float(point[k]) if np.isfinite(point[k]) else None, "ci": ci,
                  "real": ci is not None and (ci[0] > 0.0 or ci[1] < 0.0)}
    return out


def add_intervals(
    summary: dict[str, Any],
    rows: Sequence[Mapping[str, Any]],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    angle: str = "tilt",
) -> dict[str, Any]:
    """Put `ci` ({metric: [lo, hi]}) into `summary["overall"]` and each family's numbers (a
    `summarize_rows` result), in place; returns `summary`."""
    pieces = _pieces(rows)
    kw = dict(n_resamples=n_resamples, seed=seed, angle=angle, pieces=pieces)
    summary["overall"]["ci"] = bootstrap_intervals(rows, **kw)
    for family, numbers in summary.get("families", {}).items():
        numbers["ci"] = bootstrap_intervals([r for r in rows if r["family"] == family], **kw)
    return summary
