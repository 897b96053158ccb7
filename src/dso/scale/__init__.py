"""Scale-out: Ray for labelling and generation, torch.distributed for training.

Names are imported lazily so `import dso.scale` pulls in neither Ray nor torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ray_map": "dso.scale.ray_map",
    "map_items": "dso.scale.ray_map",
    "ItemFailure": "dso.scale.ray_map",
    "ray_check_many": "dso.scale.ray_backend",
    "ray_generate": "dso.scale.ray_generate",
    "GenChunk": "dso.scale.ray_generate",
    "ray_session": "dso.scale.ray_session",
    "DistContext": "dso.scale.distributed",
    "dist_context": "dso.scale.distributed",
    "is_main": "dso.scale.distributed",
    "barrier": "dso.scale.distributed",
    "cleanup": "dso.scale.distributed",
    "rank_seed": "dso.scale.distributed",
    "rank_generator": "dso.scale.distributed",
    "rank_batch_indices": "dso.scale.distributed",
    "all_reduce_mean": "dso.scale.distributed",
    "average_gradients": "dso.scale.distributed",
    "broadcast_module": "dso.scale.distributed",
    "wrap_ddp": "dso.scale.distributed",
    "unwrap": "dso.scale.distributed",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dso.scale' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
