"""The dataset index's SQLite schema and its ordered migrations.

The version lives in `PRAGMA user_version` (datasets of schema 1 kept it in the meta table,
read once and carried over). Opening a dataset applies every migration past its version in one
transaction, so an older dataset is upgraded in place, never rebuilt; a dataset written by a
newer dso is refused with a message.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

BASE = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS prompts (
    prompt_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL UNIQUE,
    object_id TEXT NOT NULL,
    family TEXT,
    split TEXT,
    view INTEGER NOT NULL DEFAULT 0,
    image_path TEXT,
    cond_shard TEXT,
    cond_index INTEGER
);
CREATE INDEX IF NOT EXISTS prompts_object ON prompts(object_id);
CREATE TABLE IF NOT EXISTS samples (
    sample_id INTEGER PRIMARY KEY,
    prompt_id TEXT NOT NULL REFERENCES prompts(prompt_id),
    sample_index INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'empty', 'failed')),
    error TEXT,
    latent_shard TEXT,
    latent_index INTEGER,
    mesh_path TEXT,
    UNIQUE (prompt_id, sample_index)
);
CREATE INDEX IF NOT EXISTS samples_prompt ON samples(prompt_id);
CREATE TABLE IF NOT EXISTS labels (
    sample_id INTEGER PRIMARY KEY REFERENCES samples(sample_id),
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    stable INTEGER,
    tilt_deg REAL,
    dso_angle_deg REAL,
    mass_source TEXT,
    preset TEXT NOT NULL,
    threshold_deg REAL NOT NULL,
    oracle_version TEXT NOT NULL,
    error TEXT,
    seconds REAL,
    attempts INTEGER NOT NULL DEFAULT 1
);
"""


def _v2_pieces(conn: sqlite3.Connection) -> None:
    """Oracle 2.0 reports pieces: significant pieces, debris dropped, why not stable."""
    for column in ("pieces INTEGER", "debris_pieces INTEGER", "debris_fraction REAL",
                   "reason TEXT"):
        conn.execute(f"ALTER TABLE labels ADD COLUMN {column}")


def _v3_image_digest(conn: sqlite3.Connection) -> None:
    """The SHA-1 of each prompt's image file when it was encoded, so that a resume notices a
    world rebuilt in place (same paths, other pictures); older prompts keep NULL."""
    conn.execute("ALTER TABLE prompts ADD COLUMN image_sha1 TEXT")


# (version reached, migration from the version before); append, never edit.
MIGRATIONS: list[tuple[int, Callable[[sqlite3.Connection], None]]] = [
    (2, _v2_pieces), (3, _v3_image_digest)]
SCHEMA_VERSION = MIGRATIONS[-1][0]

PROMPT_COLUMNS = ("prompt_id", "position", "object_id", "family", "split", "view", "image_path")
SAMPLE_COLUMNS = (
    "sample_id", "prompt_id", "sample_index", "seed", "status", "error",
    "latent_shard", "latent_index", "mesh_path",
)
LABEL_COLUMNS = (
    "sample_id", "status", "stable", "tilt_deg", "dso_angle_deg", "mass_source", "preset",
    "threshold_deg", "oracle_version", "error", "seconds", "attempts",
    "pieces", "debris_pieces", "debris_fraction", "reason",
)


def stored_version(conn: sqlite3.Connection) -> int | None:
    """The schema version of an index (None for a new, empty one)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version:
        return int(version)
    try:  # schema 1 kept its version in the meta table
        got = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError:  # no meta table: a new index
        return None
    return None if got is None else int(json.loads(got[0]))


def upgrade(conn: sqlite3.Connection, version: int | None) -> int:
    """Create or migrate the schema inside the caller's transaction; returns the old version.

    Raises ValueError for an index written by a newer dso.
    """
    if version is not None and version > SCHEMA_VERSION:
        raise ValueError(f"schema version {version} is newer than this dso's "
                         f"({SCHEMA_VERSION}): upgrade dso to read it")
    if version is None:
        for stmt in BASE.split(";"):
            if stmt.strip():
                conn.execute(stmt)
        version = 1
    old = version
    for reached, migrate in MIGRATIONS:
        if reached > version:
            migrate(conn)
            version = reached
    conn.execute(f"PRAGMA user_version = {int(version)}")
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                 (json.dumps(version),))
    return old
