"""`ray_check_many`: the stability oracle fanned out over a Ray cluster.

Same results, same order as `dso.physics.check_many` (each item is one `check_mesh` call with
the same resolved `OracleConfig`); only the executor differs. `python benchmarks/scale.py`
measures the per-mesh cost on TRELLIS-size meshes and turns it into an estimate for the
paper's 312k samples on a 64-core cluster (docs/measurements.md, Oracle).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from dso.scale.ray_map import ray_map


def _portable(mesh: Any) -> tuple[Any, str | None]:
    """(what is shipped, its name): a Trimesh travels as plain arrays, without its caches."""
    import numpy as np
    import trimesh

    from dso.physics.loading import describe

    if isinstance(mesh, trimesh.Trimesh):
        return (np.asarray(mesh.vertices), np.asarray(mesh.faces)), None
    return mesh, describe(mesh)


def _check_item(config: Any, item: tuple[Any, str | None]) -> Any:
    """Worker side: one oracle call (check_mesh itself never raises for bad input)."""
    from dso.physics import check_mesh

    mesh, path = item
    return check_mesh(mesh, config=config, path=path)


def _worker_failure(config: Any, index: int, item: tuple[Any, str | None], message: str) -> Any:
    """The CheckResult of an item whose worker died or whose task could not run."""
    from dso.physics import CheckResult

    return CheckResult(path=item[1], status="error", error=message, error_kind="crash",
                       preset=config.preset, threshold_deg=config.threshold_deg)


def ray_check_many(
    meshes: Sequence[Any],
    *,
    address: str | None = None,
    workers: int | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
    on_result: Callable[[int, Any], None] | None = None,
    **check_kwargs: Any,
) -> list[Any]:
    """Check every mesh on Ray; returns `CheckResult`s in input order.

    `meshes`: file paths (each worker loads its own: cheapest to ship) or `(vertices, faces)`
    arrays / trimesh objects. `check_kwargs`: `up`, `preset`, `threshold` or `config`, as for
    `check_mesh`; they are validated here, before anything starts (ValueError). Without
    `address` a local loopback cluster of `workers` CPUs (default: all) is started and shut
    down; with one, the cluster there is used (dso must be installed on its nodes). One task
    per chunk of `chunk_size` meshes, one CPU and one thread each; a mesh that fails, or kills
    its worker, gets `status="error"` and never stops the batch. `on_result(i, result)` sees
    each result as its chunk lands (to write labels as they come: a resumable run).
    """
    from dso.physics.oracle import resolve_config

    config = resolve_config(**check_kwargs)
    return ray_map(
        functools.partial(_check_item, config),
        [_portable(m) for m in meshes],
        address=address,
        workers=workers,
        chunk_size=chunk_size,
        progress=progress,
        desc="label (ray)",
        on_result=on_result,
        on_error=functools.partial(_worker_failure, config),
    )
