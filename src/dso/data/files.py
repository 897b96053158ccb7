"""Files of a dataset: atomic writes, the shard format and the writer lock.

Every file of a dataset is written to a temporary name and renamed into place, so after a kill
it is there whole or not at all; the index (store.py) refers to a file only once it exists.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes, fsync: bool = False) -> None:
    """Write `data` to `path` through a temporary file and a rename.

    The rename makes the file appear whole or not at all to anyone after a process kill.
    `fsync` also survives an OS crash or power loss, at ~5 ms per file; off by default, as for
    the index (SQLite WAL with synchronous=NORMAL).
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


OCCUPANCY = "occupancy"  # latent-shard tensor: uint8 [M, R, R, ceil(R / 8)], bits along z


def write_shard(path: Path, tensors: dict[str, Any]) -> None:
    """Save torch tensors as one safetensors file, atomically (tmp + rename)."""
    from safetensors.torch import save

    data = save({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
    atomic_write_bytes(path, data)


@contextmanager
def exclusive_lock(path: Path, busy: Exception, wait_s: float = 0.25) -> Iterator[None]:
    """Hold an advisory lock on `path` (created if absent); raise `busy` if another process
    still holds it after `wait_s` (a `lock_held` probe holds it for an instant only). The OS
    releases the lock when the process dies, even by SIGKILL."""
    fh = open(path, "a+")
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError as err:
            if time.monotonic() >= deadline:
                fh.close()
                raise busy from err
            time.sleep(0.02)
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def lock_held(path: Path) -> bool:
    """Whether another process holds the `exclusive_lock` on `path` (probed with a shared lock
    taken and dropped at once)."""
    if not path.exists():
        return False
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False
