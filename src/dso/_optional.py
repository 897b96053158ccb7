"""One place that imports optional dependencies and names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingDependency(ImportError):
    """An optional dependency is not installed; the message names the extra."""


def require(module: str, extra: str, purpose: str = "") -> ModuleType:
    """Import `module` or raise MissingDependency telling the user which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        why = f" (needed for {purpose})" if purpose else ""
        raise MissingDependency(
            f"the optional dependency '{module}' is not installed{why}; "
            f"install it with: pip install 'dso[{extra}]'"
        ) from err
