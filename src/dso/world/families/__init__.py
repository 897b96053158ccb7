"""Registry of parametric object families (docs/method.md §The procedural world).

`FAMILIES` maps a name to its `Family`; training families feed the train, eval and synthetic
splits, held-out families (`WILD_FAMILIES`) only the in-the-wild split.
"""

from __future__ import annotations

import numpy as np
import trimesh

from dso.errors import UnknownNameError
from dso.geometry import normalize_mesh
from dso.world.families import figurine, furniture, lamp, plant, quadruped, vessel, wild
from dso.world.families.base import Family, Params
from dso.world.families.parts import union

_ALL = (
    figurine.FAMILY, quadruped.FAMILY, furniture.TABLE, furniture.STOOL, furniture.CHAIR,
    lamp.FAMILY, plant.MUSHROOM, plant.TREE, vessel.BOTTLE, vessel.VASE,
    wild.CLOCK, wild.MOTORCYCLE, wild.BIRD,
)
FAMILIES: dict[str, Family] = {family.name: family for family in _ALL}
TRAIN_FAMILIES: tuple[str, ...] = tuple(f.name for f in _ALL if not f.held_out)
WILD_FAMILIES: tuple[str, ...] = tuple(f.name for f in _ALL if f.held_out)


def get_family(name: str) -> Family:
    """The family called `name` (`UnknownNameError`, a ValueError, listing the known ones)."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise UnknownNameError("family", name, FAMILIES) from None


def make_object(family: str, seed: int) -> tuple[Params, trimesh.Trimesh]:
    """Sample a family's parameters from `seed` and build the closed, normalised mesh."""
    fam = get_family(family)
    params = fam.sample(np.random.default_rng(seed))
    return params, build_object(family, params)


def build_object(family: str, params: Params) -> trimesh.Trimesh:
    """The closed mesh for given parameters, normalised to stand in the unit cube.

    Families build objects standing on z = 0; whatever reaches below is cut off flat.
    Vertices are rounded to float32, as a .ply file stores them, so the mesh in memory and
    the mesh read back from disk are the same (and give the same grid).
    """
    mesh = normalize_mesh(union(get_family(family).build(params), floor=0.0))
    mesh.vertices = np.asarray(mesh.vertices, dtype=np.float32).astype(np.float64)
    return mesh


__all__ = ["FAMILIES", "TRAIN_FAMILIES", "WILD_FAMILIES", "Family", "Params", "build_object",
           "get_family", "make_object"]
