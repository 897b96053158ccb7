"""The procedural object world: families of closed meshes, their grids and renders (§5).

    from dso.world import build_world, World
    world = build_world("out/world", n_train=300)
    for obj in World.open("out/world").objects(split="eval"):
        obj.mesh(), obj.grid(), obj.images()

Names are imported lazily so that the CLI does not load trimesh to start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dso._lazy import lazy_exports

_EXPORTS = {
    "build_world": "dso.world.build",
    "FAMILIES": "dso.world.families",
    "TRAIN_FAMILIES": "dso.world.families",
    "WILD_FAMILIES": "dso.world.families",
    "make_object": "dso.world.families",
    "World": "dso.world.index",
    "WorldObject": "dso.world.index",
    "SPLITS": "dso.world.plan",
    "WorldConfig": "dso.world.plan",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from dso.world.build import build_world  # noqa: F401
    from dso.world.families import (  # noqa: F401
        FAMILIES,
        TRAIN_FAMILIES,
        WILD_FAMILIES,
        make_object,
    )
    from dso.world.index import World, WorldObject  # noqa: F401
    from dso.world.plan import SPLITS, WorldConfig  # noqa: F401

__getattr__ = lazy_exports(__name__, _EXPORTS)
