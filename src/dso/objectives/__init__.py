"""Fine-tuning objectives as small pure functions of per-sample flow-matching errors.

Each takes per-sample errors `[B]` (docs/method.md §Per-sample errors: mean squared velocity error
over all non-batch elements) and returns `(loss, stats)`: a scalar tensor to minimise and a dict of
floats for logging.
"""

from dso.objectives.dpo import dpo_loss
from dso.objectives.dro import dro_loss
from dso.objectives.sft import sft_loss

OBJECTIVES = ("dro", "dpo", "sft")

__all__ = ["OBJECTIVES", "dpo_loss", "dro_loss", "sft_loss"]
