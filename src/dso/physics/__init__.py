"""The stability oracle: does a mesh stand under gravity? (DESIGN.md §3)

    from dso.physics import check_mesh, check_many
    check_mesh("chair.obj").stable
"""

from dso.physics.batch import check_many
from dso.physics.config import PRESETS, OracleConfig
from dso.physics.oracle import check_mesh
from dso.physics.result import ORACLE_VERSION, CheckResult

__all__ = ["ORACLE_VERSION", "PRESETS", "CheckResult", "OracleConfig", "check_many", "check_mesh"]
