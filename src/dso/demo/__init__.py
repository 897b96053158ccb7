"""The end-to-end demo: built-in model + built-in world -> label -> DRO/DPO/SFT -> evaluation."""

from __future__ import annotations

from dso._lazy import lazy_exports

_EXPORTS = {
    "DemoConfig": "dso.demo.config",
    "run_demo": "dso.demo.pipeline",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
