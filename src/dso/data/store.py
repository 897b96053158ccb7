"""The on-disk sample store: a SQLite index (WAL mode) plus safetensors shards and mesh files.

Layout of a dataset directory DS:
  DS/index.sqlite          prompts, samples, labels, meta (schema and migrations in
                           schema.py)
  DS/latents/*.safetensors  one shard per generation chunk, tensor "latents" [M, C, r, r, r]
                            and (since oracle grids) "occupancy", the packed grids
  DS/conditions/*.safetensors  one shard per chunk, tensor "cond" [K, L, Dc]
  DS/meshes/<sample_id>.ply
Every file is written to a temporary name and renamed into place; rows pointing at files are
inserted only after the files exist, in one transaction, so a kill at any moment leaves either
a finished chunk or nothing that the index refers to.
"""

from __future__ import annotations

import json
import sqlite3
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dso.data import schema
from dso.data.files import OCCUPANCY, exclusive_lock, lock_held
from dso.data.schema import LABEL_COLUMNS, PROMPT_COLUMNS, SAMPLE_COLUMNS, SCHEMA_VERSION
from dso.errors import refuse_foreign_folder

INDEX_NAME = "index.sqlite"
SUBDIRS = ("latents", "conditions", "meshes")  # the files' folders beside the index


class DatasetError(RuntimeError):
    """A dataset directory is missing, locked, or was written with other settings."""


@dataclass(frozen=True)
class Row:
    """One labelled sample, as the training code sees it."""

    sample_id: int
    prompt_id: str
    object_id: str
    family: str | None
    view: int
    seed: int
    stable: bool
    tilt_deg: float
    split: str | None = None
    pieces: int | None = None  # significant pieces (None: labelled without the pieces rule)


@dataclass
class Summary:
    """What one `generate` or `label` run did: named counts and wall time."""

    action: str
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def __str__(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        return f"{self.action}: {parts} ({self.seconds:.1f} s)"


class SampleStore:
    """Handle on a dataset directory: the SQLite index and the shard files it points at."""

    def __init__(self, root: Path, conn: sqlite3.Connection) -> None:
        self.root = root
        self.conn = conn
        self._handles: OrderedDict[str, Any] = OrderedDict()

    # ---- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, create: bool = False) -> SampleStore:
        """Open the dataset at `path`; with `create`, make the directory and schema if absent."""
        root = Path(path)
        index = root / INDEX_NAME
        if not index.exists():
            if not create:
                raise DatasetError(
                    f"no dataset at {root} (missing {INDEX_NAME}); create one with `dso generate`"
                )
            # a world, a run, anything else is never made a dataset (generate removes the
            # files no row names)
            refuse_foreign_folder(root, "dataset", (INDEX_NAME,), own=_own_empty,
                                  error=DatasetError)
            for sub in ("", *SUBDIRS):
                (root / sub).mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(index, isolation_level=None, timeout=60.0)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        store = cls(root, conn)
        store._init_schema()
        return store

    def _init_schema(self) -> None:
        if schema.stored_version(self.conn) == SCHEMA_VERSION:  # readers need no write lock
            return
        with self.transaction():
            try:
                schema.upgrade(self.conn, schema.stored_version(self.conn))
            except ValueError as err:
                raise DatasetError(f"{self.root}: {err}") from err

    def close(self) -> None:
        """Close the shard handles and the database connection."""
        self._handles.clear()
        self.conn.close()

    def __enter__(self) -> SampleStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, rolled back on error)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def writer_lock(self, action: str) -> AbstractContextManager[None]:
        """Exclusive lock for one kind of writing run (`generate` or `label`).

        Two runs of the same kind on one dataset are refused (DatasetError); a `label` run may
        go on while `generate` is still adding samples (it labels what is committed).
        """
        return exclusive_lock(self.root / f".lock-{action}",
                              DatasetError(f"another `{action}` run is writing {self.root}"))

    def writing(self, action: str) -> bool:
        """Whether another process is in a `writer_lock(action)` run on this dataset now."""
        return lock_held(self.root / f".lock-{action}")

    # ---- meta ----------------------------------------------------------------------------
    def meta(self) -> dict:
        """All meta entries (generator, weights fingerprint, sampler settings, versions...)."""
        rows = self.conn.execute("SELECT key, value FROM meta ORDER BY key").fetchall()
        return {r["key"]: json.loads(r["value"]) for r in rows}

    def set_meta(self, values: dict) -> None:
        """Insert or replace meta entries (call inside or outside a transaction)."""
        self.conn.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [(k, json.dumps(v, sort_keys=True)) for k, v in values.items()],
        )

    # ---- prompts and samples -------------------------------------------------------------
    def add_prompts(self, prompts: Sequence[dict]) -> None:
        """Insert prompt rows (dicts with PROMPT_COLUMNS); call inside a transaction."""
        self.conn.executemany(
            f"INSERT INTO prompts ({', '.join(PROMPT_COLUMNS)}) VALUES "
            f"({', '.join('?' * len(PROMPT_COLUMNS))})",
            [tuple(p.get(c) for c in PROMPT_COLUMNS) for p in prompts],
        )

    def prompts(self) -> list[dict]:
        """All prompt rows in position order, with their condition location."""
        rows = self.conn.execute("SELECT * FROM prompts ORDER BY position").fetchall()
        return [dict(r) for r in rows]

    def done_prompt_ids(self) -> set[str]:
        """Prompts whose samples are recorded (generated, empty or failed)."""
        rows = self.conn.execute("SELECT DISTINCT prompt_id FROM samples").fetchall()
        return {r[0] for r in rows}

    def forget_failed_prompts(self) -> int:
        """Delete the samples (and labels) of every prompt with a failed sample, so that a
        rerun of generate makes them again (seeds are per sample: the others come out the
        same); returns how many prompts. Their files are swept as orphans."""
        with self.transaction():
            failed = "SELECT DISTINCT prompt_id FROM samples WHERE status = 'failed'"
            n = len(self.conn.execute(failed).fetchall())
            self.conn.execute("DELETE FROM labels WHERE sample_id IN (SELECT sample_id FROM "
                              f"samples WHERE prompt_id IN ({failed}))")
            self.conn.execute(f"DELETE FROM samples WHERE prompt_id IN ({failed})")
        return n

    def record_chunk(self, conds: Sequence[tuple[str, str | None, int | None]],
                     samples: Sequence[dict],
                     image_sha1: Mapping[str, str | None] | None = None) -> None:
        """Commit one generated chunk: condition locations, the digests of the image files
        they were encoded from (by prompt id) and sample rows, atomically."""
        digests = image_sha1 or {}
        with self.transaction():
            self.conn.executemany(
                "UPDATE prompts SET cond_shard = ?, cond_index = ?, image_sha1 = ? "
                "WHERE prompt_id = ?",
                [(shard, idx, digests.get(pid), pid) for pid, shard, idx in conds],
            )
            self.conn.executemany(
                f"INSERT INTO samples ({', '.join(SAMPLE_COLUMNS)}) VALUES "
                f"({', '.join('?' * len(SAMPLE_COLUMNS))})",
                [tuple(s.get(c) for c in SAMPLE_COLUMNS) for s in samples],
            )

    def samples(self) -> list[dict]:
        """All sample rows in sample_id order."""
        rows = self.conn.execute("SELECT * FROM samples ORDER BY sample_id").fetchall()
        return [dict(r) for r in rows]

    # ---- labels --------------------------------------------------------------------------
    def label_configs(self) -> list[tuple[str, float, str]]:
        """Distinct (preset, threshold_deg, oracle_version) among stored labels."""
        rows = self.conn.execute(
            "SELECT DISTINCT preset, threshold_deg, oracle_version FROM labels"
        ).fetchall()
        return [tuple(r) for r in rows]

    def to_label(self, retry_failed: bool) -> list[dict]:
        """Samples with a mesh and no label yet (plus those whose label errored, on retry)."""
        cond = "l.sample_id IS NULL" + (" OR l.status = 'error'" if retry_failed else "")
        rows = self.conn.execute(
            "SELECT s.sample_id, s.mesh_path, COALESCE(l.attempts, 0) AS attempts "
            "FROM samples s LEFT JOIN labels l USING (sample_id) "
            f"WHERE s.status = 'ok' AND s.mesh_path IS NOT NULL AND ({cond}) "
            "ORDER BY s.sample_id"
        ).fetchall()
        return [dict(r) for r in rows]

    def record_labels(self, labels: Sequence[dict]) -> None:
        """Insert or replace label rows (dicts with LABEL_COLUMNS) in one transaction."""
        with self.transaction():
            self.conn.executemany(
                f"INSERT OR REPLACE INTO labels ({', '.join(LABEL_COLUMNS)}) VALUES "
                f"({', '.join('?' * len(LABEL_COLUMNS))})",
                [tuple(lab.get(c) for c in LABEL_COLUMNS) for lab in labels],
            )

    def clear_labels(self) -> None:
        """Delete every label (before relabelling with other oracle settings)."""
        with self.transaction():
            self.conn.execute("DELETE FROM labels")

    def records(self) -> list[dict]:
        """One dict per sample: its prompt's fields, the sample and its label (None if absent)."""
        rows = self.conn.execute(
            "SELECT s.*, p.object_id, p.family, p.split, p.view, p.image_path, "
            "l.status AS label_status, l.stable, l.tilt_deg, l.dso_angle_deg, l.mass_source, "
            "l.preset, l.threshold_deg, l.oracle_version, l.error AS label_error, "
            "l.seconds, l.attempts, l.pieces, l.debris_pieces, l.debris_fraction, l.reason "
            "FROM samples s JOIN prompts p USING (prompt_id) "
            "LEFT JOIN labels l USING (sample_id) ORDER BY s.sample_id"
        ).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["stable"] = None if d["stable"] is None else bool(d["stable"])
            out.append(d)
        return out

    def labelled(self, split: str | None = None) -> list[Row]:
        """Samples with a successful label (optionally of one prompt split), by sample_id."""
        sql = (
            "SELECT s.sample_id, s.prompt_id, p.object_id, p.family, p.view, s.seed, "
            "l.stable, l.tilt_deg, p.split, l.pieces FROM samples s "
            "JOIN prompts p USING (prompt_id) JOIN labels l USING (sample_id) "
            "WHERE l.status = 'ok' AND s.latent_shard IS NOT NULL"
        )
        params: tuple = ()
        if split is not None:
            sql += " AND p.split = ?"
            params = (split,)
        rows = self.conn.execute(sql + " ORDER BY s.sample_id", params).fetchall()
        return [
            Row(r["sample_id"], r["prompt_id"], r["object_id"], r["family"], int(r["view"]),
                int(r["seed"]), bool(r["stable"]), float(r["tilt_deg"]), r["split"], r["pieces"])
            for r in rows
        ]

    # ---- tensors -------------------------------------------------------------------------
    def _handle(self, shard: str) -> Any:
        from safetensors import safe_open

        if shard in self._handles:
            self._handles.move_to_end(shard)
            return self._handles[shard]
        try:
            handle = safe_open(str(self.root / shard), framework="pt")
        except Exception as err:  # SafetensorError, OSError: truncated, corrupt or missing
            raise DatasetError(f"{self.root / shard} cannot be read ({err}): the shard is "
                               "truncated or corrupt") from None
        self._handles[shard] = handle
        if len(self._handles) > 64:
            self._handles.popitem(last=False)
        return handle

    def _locations(self, table: str, key: str, kind: str, ids: Sequence) -> dict:
        found = self._locations_found(table, key, kind, ids)
        missing = [i for i in dict.fromkeys(ids) if i not in found]
        if missing:
            raise DatasetError(f"no stored {kind} for {key} {missing[:5]}")
        return found

    def _locations_found(self, table: str, key: str, kind: str, ids: Sequence) -> dict:
        """{id: (shard, index)} of the ids that have a stored `kind`."""
        found: dict = {}
        uniq = list(dict.fromkeys(ids))
        for start in range(0, len(uniq), 500):
            part = uniq[start:start + 500]
            rows = self.conn.execute(
                f"SELECT {key}, {kind}_shard, {kind}_index FROM {table} "
                f"WHERE {key} IN ({', '.join('?' * len(part))})",
                tuple(part),
            ).fetchall()
            found.update({r[0]: (r[1], r[2]) for r in rows if r[1] is not None})
        return found

    def _gather(self, locations: dict, ids: Sequence, name: str):
        import torch

        parts = []
        for i in ids:
            shard, index = locations[i]
            parts.append(self._handle(shard).get_slice(name)[index:index + 1])
        return torch.cat(parts).float()

    def latents(self, sample_ids: Sequence[int]):
        """Sampled x0 latents, in the order given: float32 [B, C, r, r, r] (DatasetError for an
        id without one)."""
        ids = [int(i) for i in sample_ids]
        return self._gather(self._locations("samples", "sample_id", "latent", ids), ids, "latents")

    def occupancy(self, sample_ids: Sequence[int]) -> dict[int, Any]:
        """The occupancy grids stored beside the latents (bool [R, R, R] numpy arrays), for the
        samples whose latent shard holds them (`OCCUPANCY`, written by `dso generate`)."""
        from dso.geometry.grid import unpack_occupancy

        rows = self._locations_found("samples", "sample_id", "latent", [int(i) for i in sample_ids])
        out: dict[int, Any] = {}
        unreadable: set[str] = set()
        for sample_id, (shard, index) in rows.items():
            try:
                handle = self._handle(shard)
            except DatasetError as err:  # its samples are checked from their mesh files
                if shard not in unreadable:
                    warnings.warn(f"{err}; its samples are checked from their mesh files",
                                  stacklevel=2)
                unreadable.add(shard)
                continue
            if OCCUPANCY not in handle.keys():
                continue
            packed = handle.get_slice(OCCUPANCY)[index:index + 1].numpy()[0]
            out[sample_id] = unpack_occupancy(packed)
        return out

    def conditions(self, prompt_ids: Sequence[str]):
        """Condition tokens of prompts, in the order given: float32 [B, L, Dc] (DatasetError for
        an id without them)."""
        ids = list(prompt_ids)
        return self._gather(self._locations("prompts", "prompt_id", "cond", ids), ids, "cond")


def _own_empty(path: Path) -> bool:
    """An empty subfolder of a dataset's own (left by a creation stopped before the index)."""
    return path.name in SUBDIRS and path.is_dir() \
        and not any(path.iterdir())
