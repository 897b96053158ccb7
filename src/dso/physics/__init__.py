"""The stability oracle: does a mesh stand under gravity? (docs/oracle.md)

    from dso.physics import check_many, check_mesh
    check_mesh("chair.obj").stable
    check_many(["a.ply", "b.ply"], workers=2)

Names are imported lazily so that `dso --help` does not load MuJoCo.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "check_mesh": "dso.physics.oracle",
    "check_many": "dso.physics.batch",
    "CheckResult": "dso.physics.result",
    "ORACLE_VERSION": "dso.physics.result",
    "OracleConfig": "dso.physics.config",
    "PRESETS": "dso.physics.config",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from dso.physics.batch import check_many  # noqa: F401
    from dso.physics.config import PRESETS, OracleConfig  # noqa: F401
    from dso.physics.oracle import check_mesh  # noqa: F401
    from dso.physics.result import ORACLE_VERSION, CheckResult  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'dso.physics' has no attribute {name!r}")
