"""Run a real subprocess and SIGKILL or Ctrl-C it once the dataset index shows some progress."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path


def count_rows(db: Path, table: str) -> int:
    """Rows in `table` of the index at `db` (0 while it does not exist yet)."""
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def run_and_signal(script: str, db: Path, table: str, at_least: int, sig: int,
                   timeout: float = 60.0) -> tuple[int, int, str]:
    """Start `python -c script` in a process group of its own, send `sig` to the group (as a
    terminal sends Ctrl-C to a job) once `table` has `at_least` rows; return the row count
    then, the exit code and stderr."""

    def own_group() -> None:  # and SIGINT as a terminal delivers it, even in a background job
        os.setpgrp()
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, preexec_fn=own_group)
    deadline = time.monotonic() + timeout
    try:
        while count_rows(db, table) < at_least:
            assert proc.poll() is None, f"finished before the signal: {proc.stderr.read()!r}"
            assert time.monotonic() < deadline, "no progress"
            time.sleep(0.01)
        rows = count_rows(db, table)
        os.killpg(proc.pid, sig)
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return rows, proc.returncode, err


def run_and_kill(script: str, db: Path, table: str, at_least: int,
                 timeout: float = 60.0) -> int:
    """Start `python -c script`, SIGKILL it once `table` has `at_least` rows; return the count."""
    run_and_signal(script, db, table, at_least, signal.SIGKILL, timeout)
    return count_rows(db, table)
