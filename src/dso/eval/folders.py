"""The report folders `dso eval` and `dso eval-compare` write (--out): an existing one is
replaced only with --force, only when it holds nothing but an earlier report, and only once the
new report is ready, so a killed run leaves the earlier report whole."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from pathlib import Path

# What `dso eval` and `dso eval-compare` write into --out: the only files --force replaces.
REPORT_FILES = ("results.json", "report.md", "tilt_hist.png", "chamfer_vs_tilt.png")
# the rows of a `dso eval` as it goes (dso.eval.partial): a rerun resumes from it
PARTIAL_FILE = "eval.partial.jsonl"
COMPARISON_FILES = ("comparison.md", "comparison.json", "tilt_hist_*.png",
                    "chamfer_vs_tilt_*.png")


def check_out(out: str | Path, force: bool, names: Sequence[str]) -> None:
    """FileExistsError unless `out` is new, empty, or (with `force`) holds only files matching
    `names` (an earlier report, replaced once the new one is written: `clear_out`). The rows
    of a killed `dso eval` (`PARTIAL_FILE`) are its own: they never count."""
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"--out {folder} is a file")
    own = (PARTIAL_FILE, PARTIAL_FILE + ".tmp")
    held = sorted(p.name for p in folder.iterdir() if p.name not in own) if folder.is_dir() else []
    if not held:
        return
    others = [n for n in held if not any(fnmatch.fnmatch(n, pat) for pat in names)]
    if not force and not others:
        raise FileExistsError(f"--out {folder} already holds a report ({', '.join(held[:4])}): "
                              "add --force to replace it, or choose a new --out")
    if others:  # a world, a run, a dataset: --force would not help
        raise FileExistsError(f"--out {folder} holds files that no report writes "
                              f"({', '.join(others[:4])}): choose a new --out")


def clear_out(out: str | Path, names: Sequence[str]) -> None:
    """Remove an earlier report's files from `out` (so no figure of it stays beside the new
    numbers); call once the new report is ready to be written."""
    folder = Path(out)
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_file() and any(fnmatch.fnmatch(path.name, pat) for pat in names):
                path.unlink()
