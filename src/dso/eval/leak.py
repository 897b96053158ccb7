"""Whether an adapter was trained on the objects it is evaluated on (docs/method.md,
§Evaluation): numbers on `eval` and `wild` mean something only if no training sample, and no
setting, came from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def training_overlap(adapter: str | Path, world: Any, split: str) -> dict[str, Any] | None:
    """How the run behind `adapter` was trained on `world`'s `split`, or None when it was not
    (or its dataset cannot be found any more: then nothing can be said).

    Counts the split's objects among the training dataset's prompts, and the dataset's prompts
    drawn from a held-out split (`eval`, `wild`) of whatever world.
    """
    from dso.data import DatasetError, SampleStore
    from dso.train.checkpoint import run_of
    from dso.train.config import TrainConfig
    from dso.world.plan import HELD_OUT_SPLITS

    try:
        dataset = Path(TrainConfig.load(run_of(adapter)).dataset)
        with SampleStore.open(dataset) as store:
            prompts = store.prompts()
    except (DatasetError, ValueError, OSError):
        return None
    evaluated = {o.id for o in world.objects(split)}
    shared = sorted({p["object_id"] for p in prompts} & evaluated)
    held_out = sorted({p["object_id"] for p in prompts if p.get("split") in HELD_OUT_SPLITS})
    if not shared and not held_out:
        return None
    return {"dataset": str(dataset), "objects_of_split": len(shared),
            "held_out_prompts": len(held_out), "examples": (shared or held_out)[:3]}


def overlap_line(overlap: dict[str, Any], split: str) -> str:
    """One line for people about a `training_overlap`."""
    return (f"the adapter was trained on {overlap['dataset']}, which holds "
            f"{overlap['objects_of_split']} objects of the split '{split}' evaluated here and "
            f"{overlap['held_out_prompts']} objects of a held-out split (e.g. "
            f"{', '.join(overlap['examples'])}): these numbers are not held-out results")
