"""A Ctrl-C that stays a Ctrl-C.

Python raises KeyboardInterrupt wherever the main thread happens to be when SIGINT arrives.
When that is inside a library's C code calling back into Python, the library may replace it
with an error of its own: torch, under a safetensors slice read, reports "could not determine
the shape of object type 'torch.storage.UntypedStorage'" (a ValueError). Code that isolates one
item's failure (`except Exception`, so that one bad mesh never stops a batch) would then record
the interrupt as that item's failure, persist it, and go on as if no one had pressed Ctrl-C.

`watching()` (every `dso` command runs inside it, see `dso.cli_errors`) notes each SIGINT
before raising KeyboardInterrupt as Python's own handler does; `reraise_if_interrupted()`, at
the top of such an isolating `except`, turns the replaced error back into the interrupt.
Pool workers run `watch_worker()` and mark each task with `busy()`. Outside these (the Python
API) both are no-ops and SIGINT behaves as Python's default. A worker also exits when the
process that started its pool is gone: a SIGKILLed parent cannot shut its pool down, and its
workers would otherwise live on, reparented, holding their memory.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class CtrlC:
    """Whether SIGINT arrived while it was watched; in a pool worker (`watch_worker`), whether
    it is running a task now."""

    hit: bool = False
    worker: bool = False
    busy: bool = False


_state: CtrlC | None = None  # the one being watched now, if any


def _handle(signum: int, frame: object) -> None:
    if _state is not None:
        if _state.worker and not _state.busy:
            return  # an idle worker: the parent, which got the same Ctrl-C, stops the pool
        _state.hit = True
    raise KeyboardInterrupt


def _can_install() -> bool:
    # only Python's default handler is replaced: SIG_IGN (a background job started by a shell)
    # and a caller's own handler stay; and only the main thread may set a handler
    return (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler)


@contextmanager
def watching() -> Iterator[CtrlC]:
    """Note SIGINT while inside; yields the note (nested calls share the outer one)."""
    global _state
    if _state is not None or not _can_install():
        yield _state if _state is not None else CtrlC()
        return
    _state = CtrlC()
    previous = signal.signal(signal.SIGINT, _handle)
    try:
        yield _state
    finally:
        signal.signal(signal.SIGINT, previous)
        _state = None


def watch_worker() -> None:
    """For the rest of this pool worker's life, SIGINT interrupts the task it runs (see
    `busy`), noted as in `watching()`, and is ignored while it waits for one: the parent gets
    the same Ctrl-C and shuts the pool down, so no idle worker dies printing a traceback."""
    global _state
    if _state is None and _can_install():
        _state = CtrlC(worker=True)
        signal.signal(signal.SIGINT, _handle)
    exit_with_parent()


def exit_with_parent(period_s: float = 1.0) -> None:
    """In a multiprocessing worker: exit (status 1) within `period_s` of the process that
    started it, or of its own parent (a forkserver), going away; a no-op elsewhere."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return
    starter, ppid = parent.pid, os.getppid()

    def watch() -> None:
        while True:
            time.sleep(period_s)
            if os.getppid() != ppid:  # reparented: its parent died
                os._exit(1)
            if not pid_alive(starter):
                os._exit(1)

    threading.Thread(target=watch, name="dso-exit-with-parent", daemon=True).start()


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists (one of another user, such as a reused pid, counts as
    alive)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or no pid at all
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def busy() -> Iterator[None]:
    """Mark a pool worker's task (a no-op outside `watch_worker`)."""
    if _state is None or not _state.worker:
        yield
        return
    _state.busy, _state.hit = True, False  # each task starts unhit: a pool outlives a Ctrl-C
    try:
        yield
    finally:
        _state.busy = False


def reraise_if_interrupted() -> None:
    """Raise KeyboardInterrupt if SIGINT has arrived while watched; call it first thing in an
    `except` that isolates an item's failure, whose error may be a replaced interrupt."""
    if _state is not None and _state.hit:
        raise KeyboardInterrupt
