"""`build_world`: build (or resume) a procedural world in a folder, in parallel workers."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from tqdm import tqdm

import dso
from dso.data.files import exclusive_lock
from dso.errors import refuse_foreign_folder
from dso.interrupts import busy, watch_worker
from dso.world.families import FAMILIES, TRAIN_FAMILIES, WILD_FAMILIES
from dso.world.index import INDEX_NAME, META_NAME, World, read_index
from dso.world.objects import build_slot
from dso.world.plan import Slot, WorldConfig, plan_slots

LOCK_NAME = ".build.lock"  # held while a build writes the folder


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _check_folder(root: Path) -> None:
    """Refuse a file, or a folder holding something other than a world (a dataset, a run):
    a build would mix its meshes and images into it."""
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root} is a file, not a folder: pick another folder for the world")
    refuse_foreign_folder(root, "world", (META_NAME,), own=lambda p: p.name == LOCK_NAME,
                          pick="folder")


def _check_compatible(root: Path, config: WorldConfig) -> None:
    meta_path = root / META_NAME
    if not meta_path.exists():
        return
    from dso.physics import ORACLE_VERSION

    meta = json.loads(meta_path.read_text())
    if meta.get("oracle_version", ORACLE_VERSION) != ORACLE_VERSION:
        raise ValueError(f"{root} holds a world whose objects passed the stability gate of "
                         f"oracle {meta['oracle_version']}, not {ORACLE_VERSION}: it cannot "
                         "be grown with this one; build into a new folder")
    old = meta.get("config", {})
    new = config.fingerprint()
    diff = [k for k in new if old.get(k) != new[k]]
    if diff:
        raise ValueError(f"{root} holds a world built with different settings ({', '.join(diff)});"
                         " build into a new folder")


def _compact_index(root: Path) -> list[dict[str, Any]]:
    """Rewrite the index without a torn last line (after a crash) and return its records."""
    records = read_index(root)
    path = root / INDEX_NAME
    if path.exists():
        tmp = path.with_name(f".{INDEX_NAME}.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
        os.replace(tmp, path)
    return records


def _summary(config: WorldConfig, records: list[dict[str, Any]], seconds: float) -> dict:
    ok = [r for r in records if r.get("status") == "ok"]
    counts: dict[str, dict[str, int]] = {}
    for r in ok:
        counts.setdefault(r["split"], Counter())[r["family"]] += 1
    rejected = Counter()
    drawn = Counter()
    reasons: dict[str, Counter] = {}
    for r in records:
        rejected[r["family"]] += r.get("rejected", 0)
        drawn[r["family"]] += r.get("rejected", 0) + (r.get("status") == "ok")
        reasons.setdefault(r["family"], Counter()).update(r.get("rejected_reasons", {}))
    from dso.physics import ORACLE_VERSION

    return {
        "dso_version": dso.__version__,
        "oracle_version": ORACLE_VERSION,
        "seed": config.seed,
        "n": len(ok),
        "resolution": config.resolution,
        "image_size": config.image_size,
        "families": list(config.families),
        "train_families": list(config.train_families),
        "wild_families": list(config.wild_families),
        "counts": {split: dict(c) for split, c in counts.items()},
        "failed": sorted(r["id"] for r in records if r.get("status") != "ok"),
        "rejected": dict(rejected),
        "rejected_fraction": {f: round(rejected[f] / drawn[f], 4) for f in drawn if drawn[f]},
        "rejected_reasons": {f: dict(c) for f, c in reasons.items()},
        "build_seconds": round(seconds, 2),
        "config": config.fingerprint(),
        "requested": {"n_train": config.n_train, "n_eval": config.n_eval,
                      "n_synthetic": config.n_synthetic, "n_val": config.n_val,
                      "wild_per_family": config.wild_per_family},
    }


def _build_slot(slot: Slot, config: WorldConfig, root: str) -> dict[str, Any]:
    with busy():  # one task of a worker process
        return build_slot(slot, config=config, root=root)


def _run(todo: Sequence[Slot], config: WorldConfig, root: Path,
         workers: int) -> Iterator[dict[str, Any]]:
    work = partial(_build_slot, config=config, root=str(root))
    if workers <= 1 or len(todo) <= 1:
        yield from map(work, todo)
        return
    context = multiprocessing.get_context("spawn")  # MuJoCo and fork do not mix
    # Ctrl-C: a draw stops as an interrupt, never as the draw's failure; idle workers wait quietly
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                               initializer=watch_worker)
    try:
        yield from pool.map(work, todo, chunksize=4)
    except BaseException:  # Ctrl-C, an error, a consumer that stops: drop the queued slots
        pool.shutdown(cancel_futures=True)
        raise
    pool.shutdown()


def build_world(
    out: str | Path,
    *,
    n_train: int = 3000,
    seed: int = 0,
    families: Sequence[str] | None = None,
    resolution: int = 32,
    image_size: int = 64,
    n_eval: int = 65,
    eval_views: int = 12,
    wild_per_family: int = 30,
    n_synthetic: int = 600,
    n_val: int = 60,
    workers: int | None = None,
    progress: bool = True,
    **options: Any,
) -> World:
    """Build the world into folder `out` (resuming whatever is already there) and open it.

    Objects already in `out/index.jsonl` are skipped, so an interrupted build loses nothing
    that was finished and a larger count only adds objects. `families=None` uses every
    family (training ones for train/eval/synthetic/val, held-out ones for the wild split).
    `options` sets further `WorldConfig` fields (e.g. `train_views`, `max_tilt_deg`).
    """
    config = replace(WorldConfig(), seed=seed, n_train=n_train, n_eval=n_eval,
                     n_synthetic=n_synthetic, n_val=n_val, wild_per_family=wild_per_family,
                     resolution=resolution, image_size=image_size, eval_views=eval_views,
                     families=tuple(families) if families else TRAIN_FAMILIES + WILD_FAMILIES,
                     **options)
    config.validate()
    if not config.train_families and config.n_train + config.n_eval + config.n_val + \
            config.n_synthetic:
        warnings.warn(f"none of the families {list(config.families)} is a training family: the "
                      "train, eval, val and synthetic splits stay empty (held-out families go "
                      "to the wild split only)", stacklevel=2)
    root = Path(out)
    _check_folder(root)
    root.mkdir(parents=True, exist_ok=True)
    taken = ValueError(f"{root} is being built by another process (two builds into one "
                       "folder would record every object twice): wait for it, or build "
                       "elsewhere")
    with exclusive_lock(root / LOCK_NAME, taken):
        _check_compatible(root, config)
        records = _compact_index(root)
        slots = plan_slots(config)
        _warn_smaller(records, slots)
        done = {r["id"] for r in records}
        todo = [slot for slot in slots if slot.id not in done]
        previous = 0.0
        if (root / META_NAME).exists():
            previous = json.loads((root / META_NAME).read_text()).get("build_seconds", 0.0)
        _write_json_atomic(root / META_NAME, {**_summary(config, records, previous),
                                              "complete": not todo})
        workers = min(os.cpu_count() or 1, 8) if workers is None else workers
        start = time.perf_counter()
        complete = False
        try:
            with open(root / INDEX_NAME, "a") as index, \
                    tqdm(total=len(todo), desc="world", unit="obj", disable=not progress) as bar:
                for record in _run(todo, config, root, workers):
                    index.write(json.dumps(record) + "\n")
                    index.flush()
                    records.append(record)
                    bar.update(1)
            complete = True
        finally:  # a stopped build's summary matches its index too (and says it is not done)
            seconds = previous + time.perf_counter() - start
            _write_json_atomic(root / META_NAME, {**_summary(config, records, seconds),
                                                  "complete": complete})
    return World.open(root)


def _warn_smaller(records: list[dict[str, Any]], slots: Sequence[Slot]) -> None:
    """Warn when the folder already holds more objects of a split than the plan (`slots`) now
    asks for: a world only grows, so they are all kept."""
    asked = Counter(slot.split for slot in slots)
    held = Counter(r["split"] for r in records if r.get("status") == "ok")
    more = [f"{split} {n} > {asked[split]}" for split, n in held.items() if n > asked[split]]
    if more:
        warnings.warn(f"the world already holds more objects than asked for ({', '.join(more)})"
                      ": a world only grows, so it keeps them all; build into a new folder for "
                      "a smaller one", stacklevel=3)


__all__ = ["FAMILIES", "TRAIN_FAMILIES", "WILD_FAMILIES", "build_world"]
