"""`check_many`: many meshes over worker processes, order kept, failures isolated.

Workers come from a forkserver (spawn where there is none) context, never a plain fork, since
torch may be loaded in the parent; each worker uses one thread. Items travel in small chunks to
keep the per-item overhead low. A worker that dies (e.g. a segfault) only costs the items it
held: those are re-run one at a time in a fresh process, and the one that kills it again gets an
error result. `CheckPool` keeps the workers alive across calls (`dso label` checks a dataset
chunk by chunk through one pool instead of starting one per chunk).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np
import trimesh
from tqdm import tqdm

from dso.env import available_cores
from dso.interrupts import busy, watch_worker
from dso.physics.config import OracleConfig
from dso.physics.loading import MeshLike, describe
from dso.physics.oracle import evaluate, resolve_config
from dso.physics.result import CheckResult

_CHUNK = 8


def _context() -> mp.context.BaseContext:
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        # keep the default ("__main__") and warm the oracle's imports once for all workers
        ctx.set_forkserver_preload(["__main__", "dso.physics.oracle"])
        return ctx
    return mp.get_context("spawn")


def _init_worker() -> None:
    watch_worker()  # Ctrl-C: the chunk stops as an interrupt, never as a mesh's error
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _portable(mesh: MeshLike) -> Any:
    """What crosses the process boundary: arrays, not a Trimesh with its caches."""
    if isinstance(mesh, trimesh.Trimesh):
        return (np.asarray(mesh.vertices), np.asarray(mesh.faces))
    return mesh


def _run_chunk(chunk: list[tuple[Any, str | None]], config: OracleConfig) -> list[CheckResult]:
    with busy():
        return [evaluate(item, config, path).result for item, path in chunk]


def _importing_main_again() -> bool:
    """Whether this call comes from a script being imported again by a starting worker (it
    then runs as `__mp_main__`): a call meant for the parent, outside `__main__`'s guard."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals.get("__name__") == "__mp_main__":
            return True
        frame = frame.f_back
    return False


def _crashed(path: str | None, config: OracleConfig) -> CheckResult:
    return CheckResult(path=path, preset=config.preset, threshold_deg=config.threshold_deg,
                       error="the worker process died while checking this mesh (a crash in "
                             "a native library, or a script that calls check_many outside "
                             "`if __name__ == '__main__':`)", error_kind="crash")


class CheckPool:
    """Worker processes for `check_many`, started on first use and kept across calls."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = available_cores() if workers is None else max(1, workers)
        self._pool: ProcessPoolExecutor | None = None

    def executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            if _importing_main_again():
                raise RuntimeError("check_many starts worker processes, which import your "
                                   "script again: call it under `if __name__ == '__main__':`")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=_context(),
                                             initializer=_init_worker)
        return self._pool

    def discard(self) -> None:
        """Drop a broken pool; the next call starts a fresh one."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self, cancel: bool = False) -> None:
        """Stop the workers after the checks running now (`cancel`: drop the queued ones)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=cancel)
            self._pool = None

    def __enter__(self) -> CheckPool:
        return self

    def __exit__(self, kind: type | None, *exc: object) -> None:
        self.close(cancel=kind is not None)  # an error or Ctrl-C: queued meshes are not checked


def _pool_pass(items: list[tuple[Any, str | None]], config: OracleConfig, pool: CheckPool,
               results: list[CheckResult | None], bar: tqdm) -> None:
    chunks = [list(range(i, min(i + _CHUNK, len(items)))) for i in range(0, len(items), _CHUNK)]
    executor = pool.executor()
    futures: list[tuple[list[int], Future]] = [
        (idx, executor.submit(_run_chunk, [items[i] for i in idx], config)) for idx in chunks]
    broken = False
    for idx, future in futures:
        try:
            for i, result in zip(idx, future.result(), strict=True):
                results[i] = result
            bar.update(len(idx))
        except BrokenProcessPool:
            broken = True  # these items are retried one by one below
    if broken:
        pool.discard()


def _isolated(items: list[tuple[Any, str | None]], todo: list[int], config: OracleConfig,
              results: list[CheckResult | None], bar: tqdm) -> None:
    pool = None
    for i in todo:
        pool = pool or ProcessPoolExecutor(1, mp_context=_context(), initializer=_init_worker)
        try:
            results[i] = pool.submit(_run_chunk, [items[i]], config).result()[0]
        except BrokenProcessPool:
            results[i] = _crashed(items[i][1], config)
            pool.shutdown(wait=False)
            pool = None
        bar.update(1)
    if pool is not None:
        pool.shutdown()


def check_many(meshes: Sequence[MeshLike], *, workers: int | None = None,
               progress: bool = True, pool: CheckPool | None = None,
               **kwargs: Any) -> list[CheckResult]:
    """`check_mesh` on every item (same keyword arguments), in order, over `workers` processes.

    workers=None uses every available core; 1 (or 0) runs in this process. `progress`: a bar
    on stderr, when stderr is a terminal. `pool` (a
    `CheckPool`, which then sets the workers) keeps its processes for the next call. One
    item's failure never affects another's result. An invalid config raises ValueError before
    any work starts.
    """
    config = resolve_config(kwargs.pop("up", "auto"), kwargs.pop("preset", "accurate"),
                            kwargs.pop("threshold", 20.0), kwargs.pop("config", None))
    if kwargs:
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(kwargs))}")
    if workers is not None and workers < 0:
        raise ValueError(f"workers must be >= 0 (None: every core), got {workers}")
    items = [(_portable(m), describe(m)) for m in meshes]
    results: list[CheckResult | None] = [None] * len(items)
    if pool is not None:
        workers = pool.workers if len(items) > 1 else 1
    workers = min(available_cores() if workers is None else max(1, workers), max(1, len(items)))
    # disable=None: a bar only when stderr is a terminal (no \r-bars in a log file)
    with tqdm(total=len(items), disable=None if progress else True, file=sys.stderr,
              unit="mesh", desc="checking") as bar:
        if workers == 1:
            for i, (item, path) in enumerate(items):
                results[i] = evaluate(item, config, path).result
                bar.update(1)
        else:
            if pool is not None:
                _pool_pass(items, config, pool, results, bar)
            else:
                with CheckPool(workers) as own:
                    _pool_pass(items, config, own, results, bar)
            todo = [i for i, r in enumerate(results) if r is None]
            if todo:
                _isolated(items, todo, config, results, bar)
    return [r for r in results if r is not None]
