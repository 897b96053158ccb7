"""The procedural object world: families of closed meshes, their grids and renders (§5).

    from dso.world import build_world, World
    world = build_world("out/world", n_train=300)
    for obj in World.open("out/world").objects(split="eval"):
        obj.mesh(), obj.grid(), obj.images()
"""

from dso.world.build import build_world
from dso.world.families import FAMILIES, TRAIN_FAMILIES, WILD_FAMILIES, make_object
from dso.world.index import World, WorldObject
from dso.world.plan import SPLITS, WorldConfig

__all__ = ["FAMILIES", "SPLITS", "TRAIN_FAMILIES", "WILD_FAMILIES", "World", "WorldConfig",
           "WorldObject", "build_world", "make_object"]
