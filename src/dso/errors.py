"""Error types shared by every room, and the one check of an output folder they share."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path


class UnknownNameError(ValueError, KeyError):
    """A name (generator, family, objective, preset...) that is not among the known ones.

    A ValueError, and a KeyError for callers that caught the registries' old KeyError. The
    message reads `unknown generator 'x'; known: dso-tiny, trellis, trellis2`.
    """

    def __init__(self, kind: str, name: object, known: Iterable[object]) -> None:
        self.kind, self.name, self.known = kind, name, tuple(known)
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(map(str, self.known))}")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])

    def __reduce__(self) -> tuple:  # picklable across worker processes
        return type(self), (self.kind, self.name, self.known)


def refuse_foreign_folder(folder: str | Path, what: str, markers: Sequence[str], *,
                          own: Callable[[Path], bool] | None = None,
                          error: type[Exception] = ValueError, pick: str = "--out") -> None:
    """Raise `error` when `folder` holds something but none of `markers` (the files that make it
    a `what`): a command never writes into another's output (a dataset, a world, a run).
    Entries `own` accepts (its lock, an empty subfolder of its own) do not count."""
    folder = Path(folder)
    if not folder.is_dir() or any((folder / name).exists() for name in markers):
        return
    if any(own is None or not own(entry) for entry in folder.iterdir()):
        why = f"no {markers[0]}" if len(markers) == 1 else "none of the files it writes"
        raise error(f"{folder} is not empty and holds no {what} ({why}): pick another {pick}")
