"""Real pieces for the data tests: a small world and dso-tiny-format random weights."""

from __future__ import annotations

from pathlib import Path

from dso.world import TRAIN_FAMILIES, build_world
from tests.models.tiny_weights import random_tiny_weights


def make_pieces(root: Path) -> dict:
    """A small world (2 families x 3 objects x 2 views) and two random weights folders."""
    world = build_world(root / "world", n_train=3, n_eval=0, n_synthetic=0, n_val=0,
                        wild_per_family=0, families=TRAIN_FAMILIES[:2], train_views=2,
                        workers=1, progress=False)
    return {"world": world.root, "weights": random_tiny_weights(root / "w0", 0),
            "other": random_tiny_weights(root / "w1", 1), "root": root}
