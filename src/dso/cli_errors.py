"""The contract every `dso` command keeps, and the one helper that keeps it.

Exit 0: done. Exit 1: some item of a batch failed (a mesh `dso check` could not evaluate); the
others were still done and each failure is reported with its item. Exit 2: a usage or input
error (click's usage message for a bad flag; otherwise one line `error: <message>` on stderr,
never a traceback); nothing was done, or what was done is kept for a rerun. Exit 130: the
user interrupted it (Ctrl-C); a resumable command says how to go on.

    @user_errors()
    def my_command(...) -> None: ...     # or: with user_errors(): ...
    @user_errors(on_interrupt=RERUN_RESUMES)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

from dso.interrupts import watching

USAGE_ERROR = 2
INTERRUPTED = 130  # 128 + SIGINT, as shells report it
RERUN_RESUMES = "rerun the same command to resume"  # on_interrupt of resumable commands


def user_error_types() -> tuple[type[BaseException], ...]:
    """What a user's input can cause: reported as `error: ...`, exit 2.

    ValueError covers bad values and the rooms' own input errors (UnknownNameError,
    MeshInputError, ImageError, ModelLoadError, ExportError, DemoError); DatasetError is a
    missing, busy or mismatched dataset; MissingDependency an optional extra not installed;
    OSError and sqlite3.OperationalError what the machine can cause (a full disk, a folder
    without write permission), where a rerun resumes once it is fixed.
    """
    import sqlite3

    from dso._optional import MissingDependency
    from dso.data.store import DatasetError

    return (ValueError, OSError, sqlite3.OperationalError, DatasetError, MissingDependency)


def fail(message: object) -> NoReturn:
    """Print `error: <message>` (on one line) to stderr and exit 2."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    typer.echo(f"error: {'; '.join(lines) or type(message).__name__}", err=True)
    raise typer.Exit(USAGE_ERROR)


@contextmanager
def user_errors(on_interrupt: str | None = None) -> Iterator[None]:
    """Turn a user error raised inside (see `user_error_types`) into `fail(err)`, and Ctrl-C
    into one line `interrupted[: <on_interrupt>]` on stderr and exit 130. Any error raised
    after a Ctrl-C counts as the interrupt: a library may have replaced the KeyboardInterrupt
    (see `dso.interrupts`).

    Works as `with user_errors():` and as a decorator on a command function.
    """
    with watching() as ctrl_c:
        try:
            yield
        except KeyboardInterrupt:
            interrupted = True
        except Exception as err:
            if not ctrl_c.hit and not isinstance(err, user_error_types()):
                raise
            interrupted, problem = ctrl_c.hit, err
        else:
            return
    if interrupted:
        typer.echo(f"\ninterrupted{': ' + on_interrupt if on_interrupt else ''}", err=True)
        raise typer.Exit(INTERRUPTED)
    fail(problem)  # outside the except block: no chained traceback anywhere
