"""LoRA fine-tuning of a generator's flow transformer with DRO, DPO or SFT.

Heavy modules (torch, peft) are imported on first use of these names.
"""

from __future__ import annotations

from dso._lazy import lazy_exports

_EXPORTS = {
    "TrainConfig": "dso.train.config",
    "train": "dso.train.recipe",
    "Recipe": "dso.train.recipe",
    "TrainResult": "dso.train.recipe",
    "load_adapter": "dso.train.checkpoint",
    "export": "dso.train.exporter",
    "ExportResult": "dso.train.exporter",
    "GeometryGuard": "dso.train.guardrails",
    "read_log": "dso.train.logging",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
