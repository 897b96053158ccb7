"""The stability oracle: does a mesh stand under gravity? (docs/oracle.md)

    from dso.physics import CheckPool, Grid, check_many, check_mesh
    check_mesh("chair.obj").stable
    check_many(["a.ply", "b.ply"], workers=2)
    check_mesh(Grid(occupancy))           # a bool [R, R, R] grid, meshed in memory
    with CheckPool(4) as pool:            # workers kept across calls
        check_many(meshes, pool=pool)

Names are imported lazily so that `dso --help` does not load MuJoCo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dso._lazy import lazy_exports

_EXPORTS = {
    "check_mesh": "dso.physics.oracle",
    "check_many": "dso.physics.batch",
    "CheckPool": "dso.physics.batch",
    "CheckResult": "dso.physics.result",
    "Grid": "dso.physics.grid",
    "ORACLE_VERSION": "dso.physics.result",
    "OracleConfig": "dso.physics.config",
    "PRESETS": "dso.physics.config",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from dso.physics.batch import CheckPool, check_many  # noqa: F401
    from dso.physics.config import PRESETS, OracleConfig  # noqa: F401
    from dso.physics.grid import Grid  # noqa: F401
    from dso.physics.oracle import check_mesh  # noqa: F401
    from dso.physics.result import ORACLE_VERSION, CheckResult  # noqa: F401

__getattr__ = lazy_exports(__name__, _EXPORTS)
