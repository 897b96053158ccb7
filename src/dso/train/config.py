"""One typed configuration per training run, validated up front and saved as RUN/config.json.

Defaults are scaled for the built-in `dso-tiny` model on a 2-core CPU. The paper's values
(docs/method.md §Paper hyper-parameters; paper Table 4, TRELLIS on GPUs) are given beside each field
for reference.

Measured on dso-tiny (480 labelled samples of 120 train prompts, 82.9% stable; eval split,
130 samples; base 80.8% stable, F 57.0, CD 0.059): at lr 1e-4, 200 steps, DPO reached 97.7%
stable with F 52.8 / CD 0.061, SFT 90.8% with F 43.2; DRO reached 94-100% stable but lost
geometry fast (F 45.6 after 30 steps, ~20-28 after 60-200 steps, with or without an ascent
bound of 0.6-1.0): watch it with `eval_every` (the guardrail warns) and keep DRO runs short.
lr 5e-4 degraded geometry for all three objectives.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dso.objectives import OBJECTIVES

CONFIG_FILE = "config.json"


@dataclass
class TrainConfig:
    """Everything that defines a fine-tuning run (paper values in comments)."""

    dataset: str                      # labelled dataset directory (dso.data store)
    out: str                          # run folder: config.json, log.jsonl, checkpoints, adapter
    objective: str = "dro"            # dro | dpo | sft
    generator: str = "dso-tiny"       # name for dso.models.get_generator
    weights: str | None = None        # weights directory (None: the generator's default)
    steps: int = 200                  # optimizer steps (paper: DRO 4000, DPO 8000)
    batch_size: int = 8               # rows per micro-batch (DPO: pairs)
    grad_accum: int = 1               # micro-batches per step; effective batch = product (48)
    lr: float = 1e-4                  # AdamW learning rate (paper: 5e-6 on TRELLIS)
    warmup: int = 10                  # linear warm-up steps, then constant (paper: 2000)
    weight_decay: float = 0.01        # AdamW weight decay (paper: 0.01)
    grad_clip: float = 1.0            # max global gradient norm; 0 disables clipping
    lora_rank: int = 16               # LoRA rank (paper: 64)
    lora_alpha: float = 32.0          # LoRA alpha (paper: 128)
    lora_dropout: float = 0.0         # LoRA dropout (paper: 0)
    lora_targets: tuple[str, ...] = ("to_q", "to_kv", "to_out", "to_qkv")
    beta: float = 500.0               # DPO temperature (paper: 500)
    ascent_bound: float | None = None  # DRO: clamp on the unstable error (None: unbounded)
    ascent_weight: float = 1.0        # DRO: weight of the unstable (ascent) term
    ascent_margin: float | None = None  # DRO: ascend only until err is this far above the
                                        # frozen base model's error on the sample (None: off)
    paired_dro: bool = False          # DRO rows as same-prompt (stable, unstable) pairs
    pair_noise: str = "shared"        # paired DRO: "shared" t and noise per pair, or
                                      # "independent" per row (paper Eq. 7, the release)
    other_view: bool = False          # condition on another view of the same object
    max_prompts: int | None = None    # train on the dataset's first N prompts only
    cond_dropout: float = 0.0         # P(condition zeroed) per row, as in pre-training (0.1)
    guided_loss: bool = False         # errors of the guided velocity the sampler follows
                                      # ((1 + w) v(cond) - w v(0) inside its cfg interval)
    t_mean: float = 1.0               # t = sigmoid(N(t_mean, t_std)) (paper: 1, 1)
    t_std: float = 1.0
    seed: int = 0
    save_every: int = 50              # checkpoint every N steps (and at the end)
    keep_checkpoints: int = 2         # most recent checkpoints kept on disk
    eval_every: int = 0               # held-out evaluation every N steps (0: never)
    device: str = "cpu"
    bf16: bool = True                 # bf16 autocast, used on CUDA only (paper: bf16)
    tensorboard: bool = False         # also write TensorBoard events (needs `tensorboard`)
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes kept with the run

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
        if self.objective not in OBJECTIVES:
            problems.append(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
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
        if self.objective == "dro" and self.batch_size < 2:
            problems.append("DRO needs batch_size >= 2 (half stable, half unstable)")
        if self.pair_noise not in ("shared", "independent"):
            problems.append(f"pair_noise must be 'shared' or 'independent', got "
                            f"{self.pair_noise!r}")
        if self.paired_dro and self.batch_size % 2:
            problems.append("paired_dro needs an even batch_size")
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
