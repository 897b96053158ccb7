"""Lazy package exports: a name is imported from its module on first use (PEP 562).

Packages whose modules pull in heavy libraries (torch, mujoco, ray) list their public names in a
dict {name: module} and set `__getattr__ = lazy_exports(__name__, EXPORTS)`, so `import dso.x`
stays cheap and the CLI starts fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` that imports `exports[name]` and returns its `name`."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
