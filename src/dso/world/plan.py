"""Which objects a world holds: splits, families, ids and seeds, all derived from one seed."""

from __future__ import annotations

import math
import zlib
from dataclasses import asdict, dataclass

import numpy as np

from dso.world.families import FAMILIES, TRAIN_FAMILIES, WILD_FAMILIES, get_family

SPLITS = ("train", "eval", "wild", "synthetic", "val")
HELD_OUT_SPLITS = ("eval", "wild")  # reported on; nothing is trained or chosen on them


@dataclass(frozen=True)
class WorldConfig:
    """Everything that decides a world's content. Counts may grow between resumed builds;
    the other fields must match the world already on disk."""

    seed: int = 0
    n_train: int = 3000
    n_eval: int = 65
    n_synthetic: int = 600
    n_val: int = 60  # held-out training-family objects to choose settings on (never eval)
    wild_per_family: int = 30  # images per held-out family
    families: tuple[str, ...] = TRAIN_FAMILIES + WILD_FAMILIES
    resolution: int = 32
    grid_supersample: int = 2  # any of 2^3 sub-centres inside: thin legs survive at 32^3
    image_size: int = 64
    train_views: int = 6
    eval_views: int = 12
    synthetic_views: int = 6
    val_views: int = 2
    wild_views: int = 1
    max_attempts: int = 12  # draws per slot before giving up on a stable object
    max_tilt_deg: float = 2.0  # ground truth must come to rest this close to upright
    min_margin: float = 0.005  # centre of mass this far inside the support polygon (oracle units)
    gate_grid: bool = True  # the grid's own surface must stand too (what a generator can learn)

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        for name in ("n_train", "n_eval", "n_synthetic", "n_val", "wild_per_family"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("resolution", "image_size", "train_views", "eval_views",
                     "synthetic_views", "val_views", "wild_views", "max_attempts",
                     "grid_supersample"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.families:
            raise ValueError("families must name at least one family")
        for name in self.families:
            get_family(name)
        if len(set(self.families)) != len(self.families):
            raise ValueError(f"families has duplicates: {self.families}")

    @property
    def train_families(self) -> tuple[str, ...]:
        """Requested families that may appear in train, eval and synthetic."""
        return tuple(f for f in self.families if not FAMILIES[f].held_out)

    @property
    def wild_families(self) -> tuple[str, ...]:
        """Requested held-out families (in-the-wild split only)."""
        return tuple(f for f in self.families if FAMILIES[f].held_out)

    def fingerprint(self) -> dict:
        """The fields that must agree for two builds to share one folder."""
        keep = asdict(self)
        for name in ("n_train", "n_eval", "n_synthetic", "n_val", "wild_per_family"):
            keep.pop(name)
        keep["families"] = list(self.families)
        return keep


@dataclass(frozen=True)
class Slot:
    """One object to build: its id, split, family, index within (split, family) and views."""

    id: str
    split: str
    family: str
    index: int
    n_views: int


def attempt_seed(world_seed: int, slot: Slot, attempt: int) -> int:
    """The seed of a slot's `attempt`-th draw (independent of process, order and hash salt)."""
    key = [world_seed, zlib.crc32(slot.split.encode()), zlib.crc32(slot.family.encode()),
           slot.index, attempt]
    return int(np.random.SeedSequence(key).generate_state(1, dtype=np.uint32)[0])


def _round_robin(split: str, count: int, families: tuple[str, ...], views: int) -> list[Slot]:
    if not families:
        return []
    slots = []
    for k in range(count):
        family = families[k % len(families)]
        index = k // len(families)
        slots.append(Slot(f"{split}-{family}-{index:05d}", split, family, index, views))
    return slots


def plan_slots(config: WorldConfig) -> list[Slot]:
    """All slots of the world, train first. A larger count only appends slots."""
    train = config.train_families
    slots = _round_robin("train", config.n_train, train, config.train_views)
    slots += _round_robin("eval", config.n_eval, train, config.eval_views)
    slots += _round_robin("synthetic", config.n_synthetic, train, config.synthetic_views)
    slots += _round_robin("val", config.n_val, train, config.val_views)
    per_family = math.ceil(config.wild_per_family / config.wild_views)
    for family in config.wild_families:
        slots += [Slot(f"wild-{family}-{i:05d}", "wild", family, i, config.wild_views)
                  for i in range(per_family)]
    return slots
