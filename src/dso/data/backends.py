"""Where `dso generate` and `dso label` run their work: in this machine's processes or on Ray."""

from __future__ import annotations

BACKENDS = ("local", "ray")


def check_backend(backend: str, address: str | None) -> None:
    """ValueError for an unknown backend, or a Ray `address` given to the local one (it would
    be ignored)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if address is not None and backend != "ray":
        raise ValueError("--address names a Ray cluster: give it with --backend ray")
