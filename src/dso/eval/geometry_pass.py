"""Chamfer / F-score for many (world object, predicted mesh) pairs, ground truth sampled once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from dso.eval.icp import DEFAULT_PROTOCOL, IcpSettings
from dso.eval.metrics import GeometryTarget, chamfer_fscore, prepare_target
from dso.interrupts import reraise_if_interrupted

__all__ = ["score_geometry"]


def _target(obj: Any, cache: dict[str, GeometryTarget | str | None], n_points: int,
            seed: int) -> GeometryTarget | str | None:
    """The object's prepared ground truth, None when it has none (e.g. synthetic prompts),
    or an error message; cached either way."""
    key = str(obj.id)
    if key not in cache:
        try:
            mesh = obj.mesh()
            cache[key] = None if mesh is None else prepare_target(mesh, n_points=n_points,
                                                                  seed=seed)
        except Exception as err:
            reraise_if_interrupted()
            cache[key] = f"ground truth {key}: {type(err).__name__}: {err}"
    return cache[key]


def score_geometry(
    pairs: Sequence[tuple[Any, Any]],
    *,
    n_points: int = 10000,
    threshold: float = 0.05,
    seed: int = 0,
    progress: bool = True,
    protocol: str | IcpSettings = DEFAULT_PROTOCOL,
    cache: dict[str, GeometryTarget | str | None] | None = None,
) -> list[tuple[float | None, float | None, str | None]]:
    """(cd, fscore, error) per (object, predicted mesh) pair, aligned by the ICP `protocol`;
    a failing pair gets (None, None, message) and the others go on; an object without ground
    truth gets (None, None, None). `cache` keeps each object's sampled ground truth for later
    calls (with the same `n_points` and `seed`)."""
    cache = {} if cache is None else cache
    out: list[tuple[float | None, float | None, str | None]] = []
    for obj, mesh in tqdm(pairs, desc="geometry", unit="mesh", disable=not progress):
        target = _target(obj, cache, n_points, seed)
        if target is None:
            out.append((None, None, None))
            continue
        if isinstance(target, str):
            out.append((None, None, target))
            continue
        try:
            cd, f = chamfer_fscore(mesh, target, n_points=n_points, threshold=threshold,
                                   seed=seed, workers=1, protocol=protocol)
            out.append((cd, f, None))
        except Exception as err:
            reraise_if_interrupted()
            out.append((None, None, f"{type(err).__name__}: {err}"))
    return out
