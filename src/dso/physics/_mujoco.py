"""Import MuJoCo without depending on a GL backend.

`import mujoco` sets up the GL backend named by MUJOCO_GL and fails when that backend's library
is missing. The oracle needs no GL, so on such a failure MuJoCo is imported again with GL
disabled (a warning says so); rendering tries backends in child processes of its own.
"""

from __future__ import annotations

import os
import sys
import warnings


def _import_without_gl():
    chosen = os.environ.get("MUJOCO_GL")
    for name in [m for m in sys.modules if m.split(".")[0] in ("mujoco", "OpenGL")]:
        del sys.modules[name]
    os.environ["MUJOCO_GL"] = "disable"
    try:
        import mujoco as module
    finally:
        os.environ["MUJOCO_GL"] = chosen or ""
    warnings.warn(f"MuJoCo could not start with MUJOCO_GL={chosen!r}; the oracle runs without "
                  "GL (install libegl1 or libosmesa6 for MuJoCo rendering)", stacklevel=2)
    return module


try:
    import mujoco
except (AttributeError, OSError, RuntimeError, ImportError):
    if not os.environ.get("MUJOCO_GL"):
        raise
    mujoco = _import_without_gl()

__all__ = ["mujoco"]
