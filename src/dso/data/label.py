"""`label_dataset`: run the stability oracle on every generated mesh and store each verdict.

Labels are committed chunk by chunk, so a kill loses at most the chunk in flight and a rerun
picks up the samples that have no label. Every sample's outcome is recorded: a mesh the oracle
cannot handle gets a label row with status "error" and its message; it is skipped by later runs
unless `retry_failed` is set, and it never removes the prompt's other samples.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from dso.data.manifest import export_manifest
from dso.data.store import DatasetError, SampleStore, Summary

BACKENDS = ("local", "ray")


def _checker(backend: str, workers: int | None, address: str | None, preset: str,
             threshold: float) -> Callable[[list[str]], list[dict]]:
    """A function paths -> result dicts, for the chosen backend."""
    if backend == "local":
        from dso.physics import check_many

        def run(paths: list[str]) -> list[dict]:
            res = check_many(paths, workers=workers, progress=False, preset=preset,
                             threshold=threshold)
            return [_as_dict(r) for r in res]
    elif backend == "ray":
        from dso.scale import ray_check_many

        def run(paths: list[str]) -> list[dict]:
            res = ray_check_many(paths, address=address, workers=workers, preset=preset,
                                 threshold=threshold, progress=False)
            return [_as_dict(r) for r in res]
    else:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return run


def _as_dict(result) -> dict:
    return result.to_dict() if hasattr(result, "to_dict") else dict(result)


def _oracle_version() -> str:
    from dso.physics import ORACLE_VERSION

    return str(ORACLE_VERSION)


def _check_chunk(check: Callable[[list[str]], list[dict]], paths: list[str]) -> list[dict]:
    """Results for `paths`; if the backend raises on the chunk, retry item by item."""
    try:
        out = check(paths)
        if len(out) != len(paths):
            raise RuntimeError(f"oracle returned {len(out)} results for {len(paths)} meshes")
        return out
    except Exception:
        results = []
        for p in paths:
            try:
                results.append(check([p])[0])
            except Exception as err:
                results.append({"path": p, "status": "error",
                                "error": f"{type(err).__name__}: {err}"})
        return results


def _label_row(item: dict, result: dict, preset: str, threshold: float, version: str) -> dict:
    ok = result.get("status") == "ok" and result.get("stable") is not None
    row = {
        "sample_id": item["sample_id"], "status": "ok" if ok else "error",
        "preset": preset, "threshold_deg": float(threshold), "oracle_version": version,
        "seconds": result.get("seconds"), "attempts": item["attempts"] + 1,
        "mass_source": result.get("mass_source"),
    }
    if ok:
        row.update(stable=int(bool(result["stable"])), tilt_deg=result.get("tilt_deg"),
                   dso_angle_deg=result.get("dso_angle_deg"))
    else:
        row["error"] = result.get("error") or f"oracle status {result.get('status')!r}"
    return row


def _check_config(store: SampleStore, preset: str, threshold: float, version: str,
                  relabel: bool) -> None:
    configs = store.label_configs()
    want = (preset, float(threshold), version)
    if any(c != want for c in configs):
        if not relabel:
            raise DatasetError(
                f"{store.root} holds labels made with (preset, threshold, oracle version) "
                f"{configs}, not {want}; pass relabel=True (--relabel) to discard them"
            )
        store.clear_labels()


def label_dataset(store_path: str | Path, *, backend: str = "local", workers: int | None = None,
                  address: str | None = None, preset: str = "accurate", threshold: float = 20.0,
                  retry_failed: bool = False, relabel: bool = False,
                  chunk_size: int | None = None, progress: bool = True) -> Summary:
    """Label every unlabelled mesh of the dataset with the oracle; resumable, see module doc.

    `chunk_size` meshes are checked and committed at a time (default 64 locally, 1024 on Ray).
    """
    start = time.perf_counter()
    check = _checker(backend, workers, address, preset, threshold)
    version = _oracle_version()
    store = SampleStore.open(store_path)
    with store, store.writer_lock():
        _check_config(store, preset, threshold, version, relabel)
        todo = store.to_label(retry_failed)
        skipped = _count_skipped(store, retry_failed)
        counts = {"to_label": len(todo), "stable": 0, "unstable": 0, "errors": 0,
                  "skipped_failed": skipped}
        size = chunk_size or (1024 if backend == "ray" else 64)
        bar = _bar(len(todo), progress)
        for lo in range(0, len(todo), size):
            items = todo[lo:lo + size]
            rows = _label_items(store, check, items, preset, threshold, version)
            for r in rows:
                key = "errors" if r["status"] == "error" else (
                    "stable" if r["stable"] else "unstable")
                counts[key] += 1
            bar.update(len(rows))
            bar.set_postfix(stable=counts["stable"], unstable=counts["unstable"],
                            errors=counts["errors"])
        bar.close()
        export_manifest(store)
    return Summary("label", counts, time.perf_counter() - start)


def _label_items(store: SampleStore, check, items: Sequence[dict], preset: str,
                 threshold: float, version: str) -> list[dict]:
    paths = [str(store.root / it["mesh_path"]) for it in items]
    results = _check_chunk(check, paths)
    rows = [_label_row(it, res, preset, threshold, version)
            for it, res in zip(items, results, strict=True)]
    store.record_labels(rows)
    return rows


def _count_skipped(store: SampleStore, retry_failed: bool) -> int:
    if retry_failed:
        return 0
    return store.conn.execute("SELECT COUNT(*) FROM labels WHERE status = 'error'").fetchone()[0]


def _bar(total: int, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not progress, desc="label", unit="mesh")
