"""One typed configuration per training run, validated up front and saved as RUN/config.json.

Each field carries its help (`dso.cli_options.setting`), from which `dso train` makes its
options; `resumable` marks the fields a resumed run may change (they do not change the
optimisation path). Defaults are scaled for the built-in `dso-tiny` model on a 2-core CPU; the
paper's values (docs/method.md §Paper hyper-parameters; paper Table 4, TRELLIS on GPUs) are
given in the help. What these settings do to dso-tiny is measured by `dso demo` (its report.md)
and `python benchmarks/shape_study.py` (docs/shape_study.md), not here.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dso.cli_options import setting
from dso.errors import UnknownNameError
from dso.objectives import make_objective, objective_names
from dso.objectives.base import PAIR_NOISE

CONFIG_FILE = "config.json"


@dataclass
class TrainConfig:
    """Everything that defines a fine-tuning run (paper values in the help)."""

    dataset: str = setting(help="Labelled dataset directory (dso.data store).", cli=False)
    out: str = setting(help="Run folder: config.json, log.jsonl, checkpoints, adapter.",
                       cli=False, resumable=True)
    objective: str = setting("dro", "Objective name (dso.objectives).", cli=False)
    generator: str = setting("dso-tiny", "Generator name.", shown="the dataset's generator")
    weights: str | None = setting(None, "Weights directory.", shown="the generator's shipped",
                                  path=True)
    steps: int = setting(200, "Optimizer steps (paper: DRO 4000, DPO 8000).", resumable=True)
    batch_size: int = setting(8, "Items per micro-batch: rows, or pairs for DPO.")
    grad_accum: int = setting(1, "Micro-batches per step (paper: effective batch 48).")
    lr: float = setting(1e-4, "AdamW learning rate (paper: 5e-6 on TRELLIS).")
    warmup: int = setting(10, "Linear warm-up steps, then constant (paper: 2000).")
    weight_decay: float = setting(0.01, "AdamW weight decay (paper: 0.01).")
    grad_clip: float = setting(1.0, "Max global gradient norm; 0 disables clipping.")
    lora_rank: int = setting(16, "LoRA rank (paper: 64).", flag="--rank")
    lora_alpha: float = setting(32.0, "LoRA alpha (paper: 128).", flag="--alpha")
    lora_dropout: float = setting(0.0, "LoRA dropout (paper: 0).", flag="--dropout")
    lora_targets: tuple[str, ...] = setting(("to_q", "to_kv", "to_out", "to_qkv"),
                                            "Module names that get LoRA adapters.", cli=False)
    beta: float = setting(500.0, "DPO temperature (paper: 500).")
    ascent_bound: float | None = setting(None, "DRO: clamp on the unstable error.")
    ascent_weight: float = setting(1.0, "DRO: weight of the ascent on unstable samples.")
    ascent_margin: float | None = setting(
        None, "DRO: ascend an unstable sample only until its error is this far above the frozen "
        "base model's.", shown="off")
    paired_dro: bool = setting(False, "DRO rows as same-prompt (stable, unstable) pairs.",
                               off="--unpaired-dro")
    pair_noise: str = setting("shared", "Paired DRO: shared (one t, noise and dropout draw per "
                              "pair), release (one t per pair, noise per row, as the released "
                              "code) or independent (t and noise per row).")
    other_view: bool = setting(False, "Condition on another view of the same object.",
                               off="--same-view")
    max_prompts: int | None = setting(None, "Train on the dataset's first N prompts only.",
                                      shown="all")
    cond_dropout: float = setting(0.0, "P(condition zeroed) per row (pre-training used 0.1; the "
                                  "release fine-tunes with 0: with DRO or DPO the dropped rows "
                                  "teach the unconditional branch too, which guidance "
                                  "subtracts).")
    guided_loss: bool = setting(
        False, "Fit the guided velocity the generator's sampler follows, (1 + w) v(cond) - "
        "w v(0) inside its guidance interval, not the plain conditional one.", off="--plain-loss")
    t_mean: float = setting(1.0, "t = sigmoid(N(t_mean, t_std)) (paper: 1).")
    t_std: float = setting(1.0, "Spread of t's logit-normal (paper: 1).")
    seed: int = setting(0, "Seed for data order, LoRA init, t and noise.")
    save_every: int = setting(50, "Checkpoint every N steps (and at the end).", resumable=True)
    keep_checkpoints: int = setting(2, "Most recent checkpoints kept on disk.", resumable=True)
    eval_every: int = setting(0, "Held-out evaluation every N steps (needs --world); 0 never.",
                              resumable=True)
    device: str = setting("cpu", "torch device.", resumable=True)
    bf16: bool = setting(True, "bf16 autocast, used on CUDA only (paper: bf16).", off="--fp32")
    tensorboard: bool = setting(False, "Also write TensorBoard events (dso[tensorboard]).",
                                resumable=True)
    extra: dict[str, Any] = setting(help="Free-form notes kept with the run.", cli=False,
                                    resumable=True, default_factory=dict)

    def __post_init__(self) -> None:
        self.lora_targets = tuple(self.lora_targets)
        self.validate()

    @property
    def effective_batch(self) -> int:
        """Rows per optimizer step on one process."""
        return self.batch_size * self.grad_accum

    def validate(self) -> None:
        """Raise ValueError naming every invalid field."""
        problems = []
        try:
            make_objective(self.objective, self).check_batch_size(self.batch_size)
        except UnknownNameError:
            problems.append(f"objective must be one of {objective_names()}, got "
                            f"{self.objective!r}")
        except ValueError as err:
            problems.append(str(err))
        for name in ("steps", "batch_size", "grad_accum", "lora_rank", "save_every",
                     "keep_checkpoints"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup", "eval_every"):
            if int(getattr(self, name)) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("lr", "lora_alpha", "beta", "t_std"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("lora_dropout", "cond_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                problems.append(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.weight_decay < 0 or self.grad_clip < 0:
            problems.append("weight_decay and grad_clip must be >= 0")
        if self.ascent_bound is not None and not self.ascent_bound > 0:
            problems.append(f"ascent_bound must be > 0 or None, got {self.ascent_bound}")
        if self.max_prompts is not None and self.max_prompts < 1:
            problems.append(f"max_prompts must be >= 1 or None, got {self.max_prompts}")
        if not self.ascent_weight >= 0:
            problems.append(f"ascent_weight must be >= 0, got {self.ascent_weight}")
        if self.ascent_margin is not None and not self.ascent_margin >= 0:
            problems.append(f"ascent_margin must be >= 0 or None, got {self.ascent_margin}")
        if self.pair_noise not in PAIR_NOISE:
            problems.append(f"pair_noise must be 'shared', 'release' or 'independent', got "
                            f"{self.pair_noise!r}")
        if not self.lora_targets:
            problems.append("lora_targets must name at least one module")
        if problems:
            raise ValueError("invalid training config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        data = dataclasses.asdict(self)
        data["lora_targets"] = list(self.lora_targets)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict, rejecting unknown keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training config keys: {unknown}")
        return cls(**data)

    def save(self, run_dir: str | Path) -> Path:
        """Write RUN/config.json (atomically) and return its path."""
        path = Path(run_dir) / CONFIG_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, run_dir: str | Path) -> TrainConfig:
        """Read RUN/config.json."""
        path = Path(run_dir) / CONFIG_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no {CONFIG_FILE} in {run_dir}: not a training run folder")
        return cls.from_dict(json.loads(path.read_text()))


RESUMABLE = frozenset(f.name for f in dataclasses.fields(TrainConfig)
                      if f.metadata.get("resumable"))


def check_resume(saved: TrainConfig, new: TrainConfig) -> None:
    """Raise ValueError naming each setting `new` changes from the run's `saved` config, other
    than the `RESUMABLE` ones."""
    old, now = saved.to_dict(), new.to_dict()
    changed = sorted(k for k in now if now[k] != old[k] and k not in RESUMABLE)
    if changed:
        raise ValueError(f"cannot resume {new.out} with changed settings: "
                         + ", ".join(f"{k} {old[k]!r} -> {now[k]!r}" for k in changed))
