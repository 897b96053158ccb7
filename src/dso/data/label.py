"""`label_dataset`: run the stability oracle on every generated mesh and store each verdict.

Labels are committed chunk by chunk, so a kill loses at most the chunk in flight and a rerun
picks up the samples that have no label. A sample whose occupancy grid is stored beside its
latent (datasets written by this version of `dso generate`) is checked from the grid, meshed
in memory (`dso.physics.grid`); older datasets are checked from their mesh files. Every
sample's outcome is recorded: a mesh the oracle cannot handle gets a label row with status
"error" and its message; it is skipped by later runs unless `retry_failed` is set, and it
never removes the prompt's other samples. A run may go on beside a `dso generate` run on the
same dataset (each has its own writer lock); with `follow` it keeps picking up the samples that
run commits until the run's lock is released.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from dso.data.backends import check_backend
from dso.data.manifest import export_manifest
from dso.data.store import DatasetError, SampleStore, Summary
from dso.interrupts import reraise_if_interrupted


def _as_dict(result) -> dict:
    return result.to_dict() if hasattr(result, "to_dict") else dict(result)


def _oracle_version() -> str:
    from dso.physics import ORACLE_VERSION

    return str(ORACLE_VERSION)


def _check_chunk(check: Callable[[list], list], items: list) -> list:
    """Results for `items`; if the backend raises on the chunk, retry item by item."""
    try:
        out = check(items)
        if len(out) != len(items):
            raise RuntimeError(f"oracle returned {len(out)} results for {len(items)} meshes")
        return out
    except Exception:
        reraise_if_interrupted()
        results = []
        for item in items:
            try:
                results.append(check([item])[0])
            except Exception as err:
                reraise_if_interrupted()
                results.append({"path": str(getattr(item, "name", item)), "status": "error",
                                "error": f"{type(err).__name__}: {err}"})
        return results


def _items(store: SampleStore, todo: Sequence[dict]) -> list:
    """What the oracle checks per sample: its stored occupancy grid (a `Grid` named after the
    mesh file), else the path of its mesh file."""
    from dso.physics.grid import Grid

    grids = store.occupancy([it["sample_id"] for it in todo])
    paths = [str(store.root / it["mesh_path"]) for it in todo]
    return [Grid(grids[it["sample_id"]], name=path) if it["sample_id"] in grids else path
            for it, path in zip(todo, paths, strict=True)]


def _label_row(item: dict, result: dict, preset: str, threshold: float, version: str) -> dict:
    """The labels-table row of one sample from one oracle result dict."""
    ok = result.get("status") == "ok" and result.get("stable") is not None
    row = {
        "sample_id": item["sample_id"], "status": "ok" if ok else "error",
        "preset": preset, "threshold_deg": float(threshold), "oracle_version": version,
        "seconds": result.get("seconds"), "attempts": item["attempts"] + 1,
        "mass_source": result.get("mass_source"),
    }
    if ok:
        row.update(stable=int(bool(result["stable"])), tilt_deg=result.get("tilt_deg"),
                   dso_angle_deg=result.get("dso_angle_deg"), pieces=result.get("pieces"),
                   debris_pieces=result.get("debris_pieces"),
                   debris_fraction=result.get("debris_fraction"), reason=result.get("reason"))
    else:
        row["error"] = result.get("error") or f"oracle status {result.get('status')!r}"
    return row


MESH_CAP_KEY = "label_mesh_cap"  # meta: how meshes over the face cap were labelled
_DEFAULT_CAP = {"decimate_over": 1_000_000}  # for labels made before the cap was kept


def _mesh_cap(max_faces: int, refuse_over_cap: bool) -> dict:
    """What of the face cap can change a verdict: the cap meshes are decimated to, or None when
    every verdict is of the exact mesh (no cap, or meshes over it get an error label)."""
    return {"decimate_over": None if refuse_over_cap or max_faces <= 0 else int(max_faces)}


def _check_config(store: SampleStore, preset: str, threshold: float, version: str,
                  relabel: bool, cap: dict) -> None:
    configs = store.label_configs()
    want = (preset, float(threshold), version)
    other = [c for c in configs if c != want]
    stored_cap = store.meta().get(MESH_CAP_KEY, _DEFAULT_CAP) if configs else cap
    if stored_cap != cap and not other:
        if not relabel:
            raise DatasetError(
                f"{store.root} holds labels of meshes decimated over "
                f"{stored_cap['decimate_over'] or 'no'} faces, not {cap['decimate_over'] or 'no'}"
                " (face cap, --max-faces / --refuse-over-cap): decimation changes verdicts, and "
                "labels of two settings are never mixed: rerun with those settings, or with "
                "--relabel to label every sample again")
        store.clear_labels()
    if other:
        if not relabel:
            old = sorted({c[2] for c in other if c[2] != version})
            why = (f"oracle version {', '.join(old)} (this dso's oracle is {version}; "
                   "2.0 added the pieces rule)") if old else "other oracle settings"
            raise DatasetError(
                f"{store.root} holds labels made with {why}: (preset, threshold, version) "
                f"{other}, not {want}. Labels of two settings are never mixed: rerun with "
                "--relabel (relabel=True in Python) to discard them and label every sample again")
        store.clear_labels()


class _LabelWriter:
    """Buffers label rows and commits them `size` at a time (one transaction each)."""

    def __init__(self, store: SampleStore, config: tuple[str, float, str], size: int,
                 counts: dict, bar) -> None:
        self.store, self.config, self.size = store, config, size
        self.counts, self.bar, self.rows = counts, bar, []

    def add(self, item: dict, result) -> None:
        self.rows.append(_label_row(item, _as_dict(result), *self.config))
        if len(self.rows) >= self.size:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        self.store.record_labels(self.rows)
        for r in self.rows:
            key = "errors" if r["status"] == "error" else (
                "stable" if r["stable"] else "unstable")
            self.counts[key] += 1
        self.bar.set_postfix(stable=self.counts["stable"], unstable=self.counts["unstable"],
                             errors=self.counts["errors"], refresh=False)
        self.bar.update(len(self.rows))
        self.rows = []


FOLLOW_POLL_S = 1.0  # --follow: seconds between looks for newly generated samples
FOLLOW_START_S = 60.0  # --follow: how long to wait for a starting `dso generate` to make the set


def label_dataset(store_path: str | Path, *, backend: str = "local", workers: int | None = None,
                  address: str | None = None, preset: str = "accurate", threshold: float = 20.0,
                  retry_failed: bool = False, relabel: bool = False,
                  chunk_size: int | None = None, max_faces: int = 1_000_000,
                  refuse_over_cap: bool = False, progress: bool = True,
                  follow: bool = False) -> Summary:
    """Label every unlabelled mesh of the dataset with the oracle; resumable, see module doc.

    Results are committed `chunk_size` at a time (default 64 locally, 256 on Ray). The local
    backend runs `dso.physics.check_many` on each chunk over `workers` processes, kept for the
    whole run; the Ray backend runs `dso.scale.ray_check_many` (`address`: a running cluster,
    else a local one of `workers` CPUs) and commits results as they land. Meshes over
    `max_faces` faces are decimated to it (0: no cap), or get an error label with
    `refuse_over_cap`. With `follow`, labelling goes on while a `dso generate` run is writing
    the dataset (samples are labelled as their chunks are committed) and ends once that run
    has finished and every sample has a label.
    """
    check_backend(backend, address)
    from dso.physics import OracleConfig

    config = OracleConfig.from_preset(  # ValueError up front
        preset, threshold_deg=float(threshold), max_faces=max_faces,
        on_too_many_faces="refuse" if refuse_over_cap else "decimate")
    start = time.perf_counter()
    version = _oracle_version()
    if follow:
        _wait_for_dataset(Path(store_path))
    store = SampleStore.open(store_path)
    with store, store.writer_lock("label"), contextlib.ExitStack() as stack:
        cap = _mesh_cap(max_faces, refuse_over_cap)
        _check_config(store, preset, threshold, version, relabel, cap)
        store.set_meta({MESH_CAP_KEY: cap})
        counts = {"to_label": 0, "stable": 0, "unstable": 0, "errors": 0,
                  "skipped_failed": _count_skipped(store, retry_failed)}
        size = chunk_size or (256 if backend == "ray" else 64)
        bar = stack.enter_context(_bar(progress))
        writer = _LabelWriter(store, (preset, threshold, version), size, counts, bar)
        check = _checker(backend, store, writer, stack, address, workers, config, size)
        retry = retry_failed  # the first pass only: errors recorded now are not retried
        while True:
            generating = follow and store.writing("generate")  # before looking for samples
            todo = store.to_label(retry)
            retry = False
            if todo:
                counts["to_label"] += len(todo)
                bar.total = counts["to_label"]
                bar.refresh()
                check(todo)
                writer.flush()
            elif not generating:
                break  # nothing new, and no generate run can commit more
            else:
                time.sleep(FOLLOW_POLL_S)
            if not follow:
                break
        export_manifest(store)
    return Summary("label", counts, time.perf_counter() - start)


def _wait_for_dataset(path: Path) -> None:
    """With --follow: give a `dso generate` started at the same moment time to create the
    dataset before opening it: its settings (`generator` among them), which that run writes
    under its lock, not only the index and schema, which come first."""
    from dso.data.store import INDEX_NAME

    deadline = time.monotonic() + FOLLOW_START_S
    while time.monotonic() < deadline:
        if (path / INDEX_NAME).is_file():
            with contextlib.suppress(Exception), SampleStore.open(path) as store:
                if store.meta().get("generator"):
                    return
        time.sleep(0.25)


def _checker(backend: str, store: SampleStore, writer: _LabelWriter,
             stack: contextlib.ExitStack, address: str | None, workers: int | None, config,
             size: int) -> Callable[[Sequence[dict]], None]:
    """A function that labels a list of samples into `writer`, all calls sharing one worker
    pool (local; its processes start on first use) or one Ray session (opened by the first
    call) until `stack` closes."""
    if backend != "ray":
        from dso.physics.batch import CheckPool

        pool = stack.enter_context(CheckPool(workers))
        return lambda todo: _label_local(store, todo, writer, pool, config, size)

    from dso.scale.ray_session import ray_session

    def check(todo: Sequence[dict]) -> None:
        stack.enter_context(ray_session(address, workers))  # opens once, then a no-op
        _label_ray(store, todo, writer, address, workers, config, 16 * size)

    return check


def _label_local(store: SampleStore, todo: Sequence[dict], writer: _LabelWriter, pool,
                 config, size: int) -> None:
    """Chunk by chunk through the kept pool of worker processes."""
    from dso.physics.batch import check_many

    def check(chunk: list) -> list:
        return check_many(chunk, pool=pool, progress=False, config=config)

    for lo in range(0, len(todo), size):
        part = todo[lo:lo + size]
        for item, result in zip(part, _check_chunk(check, _items(store, part)), strict=True):
            writer.add(item, result)


def _label_ray(store: SampleStore, todo: Sequence[dict], writer: _LabelWriter,
               address: str | None, workers: int | None, config, block: int) -> None:
    """The items are loaded `block` at a time (grids stay off the driver)."""
    from dso.scale import ray_check_many

    for lo in range(0, len(todo), block):
        part = todo[lo:lo + block]
        ray_check_many(_items(store, part), address=address, workers=workers, config=config,
                       progress=False,
                       on_result=lambda i, result, part=part: writer.add(part[i], result))


def _count_skipped(store: SampleStore, retry_failed: bool) -> int:
    if retry_failed:
        return 0
    return store.conn.execute("SELECT COUNT(*) FROM labels WHERE status = 'error'").fetchone()[0]


def _bar(progress: bool):
    from tqdm.auto import tqdm

    return tqdm(total=0, disable=not progress, desc="label", unit="mesh")
