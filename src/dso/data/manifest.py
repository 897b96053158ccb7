"""`DS/manifest.jsonl`: the index as plain text, one JSON object per sample."""

from __future__ import annotations

import json
from pathlib import Path

from dso.data.files import atomic_write_bytes
from dso.data.store import SampleStore

MANIFEST_NAME = "manifest.jsonl"


def export_manifest(store: SampleStore) -> Path:
    """Write one line per sample (prompt fields, sample, label) to DS/manifest.jsonl, atomically."""
    lines = [json.dumps(rec, sort_keys=True) for rec in store.records()]
    path = store.root / MANIFEST_NAME
    atomic_write_bytes(path, ("\n".join(lines) + ("\n" if lines else "")).encode())
    return path
