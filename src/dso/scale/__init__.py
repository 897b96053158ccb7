"""Scale-out: Ray for labelling and generation, torch.distributed for training.

Importing this package loads neither Ray nor torch: the Ray modules import Ray when called,
and the torch.distributed helpers (`dso.scale.distributed`) are loaded on first use.
"""

from __future__ import annotations

from dso._lazy import lazy_exports

# Light modules (tqdm only) are imported here so that the package attributes below are the
# functions, not the submodules of the same name (`dso.scale.ray_map` is the function).
from dso.scale.ray_actors import ray_actor_map
from dso.scale.ray_backend import ray_check_many
from dso.scale.ray_generate import GenChunk, ray_generate
from dso.scale.ray_map import ItemFailure, map_items, ray_map
from dso.scale.ray_session import ray_session

_DISTRIBUTED = ("DistContext", "dist_context", "is_main", "world_size", "barrier", "cleanup",
                "abandon", "all_reduce_mean", "average_gradients", "broadcast_module")

__all__ = [  # noqa: RUF022 - Ray names, then the torch.distributed ones (lazy)
    "GenChunk", "ItemFailure", "map_items", "ray_actor_map", "ray_check_many", "ray_generate",
    "ray_map", "ray_session",
    "DistContext", "dist_context", "is_main", "world_size", "barrier", "cleanup", "abandon",
    "all_reduce_mean", "average_gradients", "broadcast_module",
]


__getattr__ = lazy_exports(__name__, {name: "dso.scale.distributed" for name in _DISTRIBUTED})
