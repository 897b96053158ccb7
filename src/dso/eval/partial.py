"""The rows of an evaluation as it goes, so that a killed `dso eval` resumes (docs/method.md,
§Evaluation): a JSON-lines file whose first line holds the settings that decide the rows and
each further line one finished chunk of prompts. A torn last line (a kill mid-write) is
dropped; a file of other settings is started over."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read_rows(path: str | Path, key: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The rows of the finished chunks in `path` when it was written under `key`; None when
    there is no such file or it holds another evaluation."""
    path = Path(path)
    if not path.is_file():
        return None
    rows: list[dict[str, Any]] = []
    with open(path) as f:
        lines = f.read().split("\n")
    try:
        if json.loads(lines[0]).get("key") != json.loads(json.dumps(key)):
            return None
    except (json.JSONDecodeError, AttributeError):
        return None
    for line in lines[1:]:
        try:
            rows += json.loads(line)["rows"]
        except (json.JSONDecodeError, KeyError, TypeError):
            break  # the torn line of a killed write, and whatever follows it
    return rows


def start(path: str | Path, key: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """(Re)write `path` with `key` and the `rows` kept from it, through a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    lines = [json.dumps({"key": key})] + ([json.dumps({"rows": rows})] if rows else [])
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


def append(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Add one finished chunk's rows, on disk before this returns."""
    with open(path, "a") as f:
        f.write(json.dumps({"rows": rows}, allow_nan=True) + "\n")
        f.flush()
        os.fsync(f.fileno())
