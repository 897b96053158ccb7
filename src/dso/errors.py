"""Error types shared by every room."""

from __future__ import annotations

from collections.abc import Iterable


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
