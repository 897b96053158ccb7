"""Putting a finished output folder in place of an old one, so a reader never sees a mix.

A command that writes a folder of files that belong together (dso-tiny weights, an export)
writes them into `temp_folder(out)` (`.NAME.tmp-PID-XXXXXXXX` beside the destination; the
ones whose process is gone, left by killed runs, are removed first) and then calls
`replace_folder`: the old folder is renamed aside (`.NAME.old-PID-XXXXXXXX`), the new one
renamed in, and the old one removed. Each rename is atomic, so the destination holds either
every old file or every new one. An exception between the two renames puts the old folder
back; a process killed there leaves the old folder aside, and `recover_replaced` (run by the
next write) renames it back when nothing took its place, or removes it when something did.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from dso.interrupts import pid_alive
from dso.models.loading import default_mode

# pid-less temp folders of older dso versions (exports: `.NAME.tmp-XXXXXXXX`; pretrain's
# staging: `.NAME.XXXXXXXX.partial`), removed once this long untouched
OLD_STYLE_AGE_S = 86400.0


def _leftovers(out: Path, pattern: re.Pattern[str]) -> Iterator[tuple[Path, re.Match[str]]]:
    """The real folders (not symlinks) beside `out` whose names match `pattern`, in order."""
    if not out.parent.is_dir():
        return
    for path in sorted(out.parent.iterdir()):
        match = pattern.match(path.name)
        if match and path.is_dir() and not path.is_symlink():
            yield path, match


def remove_stale_temps(out: str | Path) -> list[Path]:
    """Remove the temporary folders beside `out` that killed runs left (`.NAME.tmp-PID-*`
    whose process PID is gone, and the pid-less ones of older dso versions once a day old,
    `OLD_STYLE_AGE_S`); return them. A live PID's folder is left alone."""
    out = Path(out)
    name = re.escape(out.name)
    removed = []
    pattern = re.compile(rf"^\.{name}\.(?:tmp-(?:(\d+)-|\w{{8}}$)|\w{{8}}\.partial$)")
    for path, match in _leftovers(out, pattern):
        if (not pid_alive(int(match[1])) if match[1] else
                time.time() - path.stat().st_mtime > OLD_STYLE_AGE_S):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def temp_folder(out: str | Path) -> tuple[Path, list[Path]]:
    """A new empty folder beside `out` to write into (the umask's permissions, not mkdtemp's
    owner-only ones, since it becomes `out`), and the stale ones removed first."""
    out = target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    removed = remove_stale_temps(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
    tmp.chmod(default_mode(directory=True))
    return tmp, removed


def target(out: str | Path) -> Path:
    """The folder that is replaced: `out`, or where it points when it is a symlink (so the
    link stays and the new folder is written on the link target's disk)."""
    out = Path(out)
    return out.resolve() if out.is_symlink() else out


def _aside(out: Path) -> Path:
    return out.with_name(f".{out.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def recover_replaced(out: str | Path) -> list[Path]:
    """Deal with the old folders that killed `replace_folder` calls left beside `out`: rename
    one back to `out` when `out` is missing, remove the others; return them. A live process's
    folder is left alone."""
    out = Path(out)
    handled = []
    for path, match in _leftovers(out, re.compile(rf"^\.{re.escape(out.name)}\.old-(\d+)-\w+$")):
        if pid_alive(int(match[1])):
            continue
        if out.exists() or out.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.rename(out)
        handled.append(path)
    return handled


def replace_folder(new: str | Path, out: str | Path) -> None:
    """Rename the finished folder `new` to `out`, replacing an existing `out` whole (see the
    module docstring for what a kill at any point leaves)."""
    new, out = Path(new), target(out)
    recover_replaced(out)
    if not out.exists():
        new.rename(out)
        return
    old = _aside(out)
    out.rename(old)
    try:
        new.rename(out)
    except BaseException:
        old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)
