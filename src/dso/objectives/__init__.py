"""Fine-tuning objectives: one class per objective, found by name in one registry.

Each objective's loss wraps a small pure function of per-sample flow-matching errors `[B]`
(docs/method.md §Per-sample errors: mean squared velocity error over all non-batch elements)
that returns `(loss, stats)`: a scalar tensor to minimise and a dict of floats for logging.
`dso.objectives.base` says what an objective declares (its batch, its reference, its batch-size
rule); a new objective is one new module here (docs/method.md §Adding an objective).
"""

from dso.objectives.base import (
    HALVES,
    PAIRS,
    STABLE,
    Batch,
    Objective,
    get_objective,
    make_objective,
    objective_names,
    pair_up,
    split_pairs,
)
from dso.objectives.dpo import dpo_loss
from dso.objectives.dro import dro_loss
from dso.objectives.sft import sft_loss

__all__ = ["HALVES", "PAIRS", "STABLE", "Batch", "Objective", "dpo_loss", "dro_loss",
           "get_objective", "make_objective", "objective_names", "pair_up", "sft_loss",
           "split_pairs"]
