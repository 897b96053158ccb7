"""The LoRA fine-tuning recipe: setup -> train loop -> save (torchtune style, no inheritance).

Per optimizer step: `grad_accum` micro-batches (`dso.objectives.Batch`) from the BatchSource,
each a function of (seed, rank, index); t ~ logit-normal and noise drawn from a generator
reseeded from (seed, rank, step, micro), so a resumed run reproduces the uninterrupted one
exactly. The objective (`dso.objectives`) says whether pairs share t and noise and whether its
loss needs the reference: the same network with adapters disabled. Only rank 0 writes to the
run folder (`self.writes`); `rank`/`world_size` are explicit so distributed training only has
to wrap the model and pass them in.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from dso.models.device import resolve_device
from dso.models.loading import state_fingerprint
from dso.models.rectified_flow import per_sample_error, sample_t
from dso.objectives import Batch, make_objective, pair_up
from dso.train.checkpoint import (
    base_label,
    check_base,
    check_world_size,
    latest_checkpoint,
    load_checkpoint,
    read_spec,
    save_checkpoint,
)
from dso.train.config import CONFIG_FILE, TrainConfig, check_resume
from dso.train.dataset_checks import (
    check_generator_name,
    check_held_out,
    check_labelled,
    check_same_generator,
    dataset_guidance,
    dataset_meta,
    note_dataset,
    note_usage,
)
from dso.train.guardrails import EvalFn, GeometryGuard, run_eval
from dso.train.logging import EVAL_FILE, LOG_FILE, RunLog, read_log, truncate_log
from dso.train.lora import ADAPTER_CONFIG, ADAPTER_FILE, LoraSpec, apply_lora, save_adapter


@dataclass
class TrainResult:
    """What a call to `Recipe.train` did."""

    run_dir: Path
    steps: int                                  # optimizer steps completed in total
    resumed_from: int                           # step the run resumed at (0: fresh)
    losses: list[float] = field(default_factory=list)   # losses of the steps run now
    evals: list[dict[str, Any]] = field(default_factory=list)
    seconds_per_step: float = float("nan")


def step_seed(seed: int, rank: int, step: int, micro: int) -> int:
    """A 63-bit seed for one micro-batch, independent across (seed, rank, step, micro)."""
    hi, lo = np.random.SeedSequence([seed, rank, step, micro]).generate_state(2)
    return (int(hi) & 0x7FFFFFFF) << 32 | int(lo)


def warmup_factor(warmup: int):
    """LR multiplier: linear from 1/warmup to 1 over `warmup` steps, then constant."""
    def factor(step: int) -> float:
        return 1.0 if warmup <= 0 else min(1.0, (step + 1) / warmup)
    return factor


def _shared(draws: torch.Tensor, rows: int) -> torch.Tensor:
    """Draws for a paired batch of `rows`: pair i's two rows both take draw i."""
    first = draws[: rows // 2]
    return pair_up(first, first)


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


class Recipe:
    """LoRA fine-tuning of `generator.flow` with DRO, DPO or SFT."""

    def __init__(self, config: TrainConfig, *, generator: Any = None, source: Any = None,
                 eval_fn: EvalFn | None = None, rank: int = 0, world_size: int = 1,
                 progress: bool = True) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world_size {world_size}")
        self.config = config
        self.objective = make_objective(config.objective, config)
        self.generator = generator
        self.source = source
        self.eval_fn = eval_fn
        self.rank, self.world_size = rank, world_size
        self.writes = rank == 0          # the one place that decides who writes
        self.progress = progress and self.writes
        self.run_dir = Path(config.out)
        self.device = resolve_device(config.device)  # before anything is written
        self.start_step = 0
        caution = self.objective.caution()
        if caution and self.writes:
            warnings.warn(caution, stacklevel=2)

    # ---------------------------------------------------------------- setup
    def setup(self, *, resume: bool = False) -> Recipe:
        """Load generator and data, add LoRA, build optimizer/scheduler, maybe resume."""
        cfg = self.config
        self._check_run_folder(resume)
        if self.source is None:
            self.source = self._open_source()
        meta = dataset_meta(self.source)
        check_generator_name(meta, cfg.generator)  # before anything is written
        if self.writes:
            check_labelled(self.source)
            check_held_out(self.source)
            note_usage(self.source)
            cfg.save(self.run_dir)
            note_dataset(self.source, self.run_dir, resume)
        if self.generator is None:
            from dso.models import get_generator
            # at the dataset's guidance: the guided loss and the held-out evaluation then follow
            # the sampler whose outputs are being fixed
            self.generator = get_generator(cfg.generator, cfg.weights, device=cfg.device,
                                           guidance=dataset_guidance(meta))
        base = state_fingerprint(self.generator.flow)  # recorded with the adapter
        check_same_generator(meta, self.generator, base)
        torch.manual_seed(cfg.seed)  # LoRA A initialisation
        self.spec = LoraSpec(cfg.lora_rank, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_targets,
                             base)
        self.model = apply_lora(self.generator.flow.to(self.device), self.spec)
        self.generator.flow = self.model
        self.model.train()
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer,
                                                           warmup_factor(cfg.warmup))
        if resume:
            self._resume()
        if self.world_size > 1:  # torchrun (dso.scale): rank 0's adapter everywhere, then sync
            from dso.scale.torchrun import sync_replicas
            sync_replicas(self.model)
        self.log = RunLog(self.run_dir, enabled=self.writes, tensorboard=cfg.tensorboard)
        self.eval_log = RunLog(self.run_dir, enabled=self.writes, name=EVAL_FILE)
        baseline = [r for r in read_log(self.run_dir, EVAL_FILE) if r.get("step") == 0]
        self.guard = GeometryGuard()
        if baseline:
            self.guard.check(baseline[0])
        return self

    def _check_run_folder(self, resume: bool) -> None:
        busy = (self.run_dir / LOG_FILE).exists() or latest_checkpoint(self.run_dir)
        if busy and not resume:
            raise FileExistsError(f"{self.run_dir} already holds a run: continue it with "
                                  "--resume, or pick another --out")
        # every rank looks (only rank 0 writes): a refusal on rank 0 alone would leave the
        # others waiting for it in their first collective
        foreign = (self.run_dir.is_dir() and not (self.run_dir / CONFIG_FILE).exists()
                   and any(not p.name.startswith(CONFIG_FILE) for p in self.run_dir.iterdir()))
        if foreign:  # a dataset, a world, anything else: never write a run into it
            raise FileExistsError(f"{self.run_dir} is not empty and holds no dso train run; "
                                  "pick another --out")
        if resume and (self.run_dir / CONFIG_FILE).exists():
            check_resume(TrainConfig.load(self.run_dir), self.config)
        if resume and busy and (ckpt := latest_checkpoint(self.run_dir)) is not None:
            check_world_size(ckpt, self.world_size, self.config.effective_batch)

    def _open_source(self) -> Any:
        from dso.data import SampleStore
        from dso.data.sampling import BatchSource

        cfg = self.config
        store = SampleStore.open(cfg.dataset)
        return BatchSource(store, self.objective, cfg.batch_size, cfg.seed, rank=self.rank,
                           world_size=self.world_size, other_view=cfg.other_view,
                           max_prompts=cfg.max_prompts)

    def _resume(self) -> None:
        ckpt = latest_checkpoint(self.run_dir)
        if ckpt is not None:
            done = read_spec(ckpt)
            check_base(done, self.spec.base, ckpt,  # resumed on the weights it started from
                       base_label(self.config.generator, self.config.weights))
            self.start_step = load_checkpoint(ckpt, self.model, self.optimizer, self.scheduler)
        if self.writes:
            truncate_log(self.run_dir, self.start_step)
            truncate_log(self.run_dir, self.start_step, EVAL_FILE)
            if self.start_step < self.config.steps:
                self._drop_final_adapter()

    def _drop_final_adapter(self) -> None:
        """Remove the final adapter of the run's earlier end (a resume with more --steps): until
        this run ends, `find_adapter` then takes its latest checkpoint, not that older adapter.
        The adapter file first: its presence is what says the run finished."""
        for name in (ADAPTER_FILE, ADAPTER_CONFIG):
            (self.run_dir / name).unlink(missing_ok=True)

    # ----------------------------------------------------------------- loop
    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.device.type == "cuda" and self.config.bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _errors(self, x0: torch.Tensor, cond: torch.Tensor, t: torch.Tensor,
                eps: torch.Tensor) -> torch.Tensor:
        # guided_loss: fit the velocity the generator's sampler follows (its guidance settings)
        guidance = self.generator.sampler if self.config.guided_loss else 0.0
        with self._autocast():
            return per_sample_error(self.model, x0, cond, t, eps, guidance).float()

    def _draws(self, batch: Batch, seed: int
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """t [B], noise like x0, and a keep-condition mask [B] (condition dropout), as many
        draws as the objective asks; pairs that share them take their first half's."""
        rows = len(batch)
        n = self.objective.noise_rows(rows)
        gen = torch.Generator().manual_seed(seed)
        t = sample_t(n, gen, self.config.t_mean, self.config.t_std)
        eps = torch.randn((n, *batch.x0.shape[1:]), generator=gen)
        keep = torch.rand(n, generator=gen) >= self.config.cond_dropout
        if self.objective.shares_pair_noise:  # row i and row i + B/2: the same draws
            t, eps, keep = (_shared(v, rows) for v in (t, eps, keep))
        elif self.objective.shares_pair_t:  # the same t and dropout, noise of their own
            t, keep = _shared(t, rows), _shared(keep, rows)
        return t.to(self.device), eps.to(self.device), keep.to(self.device)

    @staticmethod
    def _drop(cond: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Zero the condition of rows not kept (the unconditional input used by guidance)."""
        return cond * keep.to(cond.dtype).reshape(-1, *[1] * (cond.dim() - 1))

    def micro_loss(self, batch: Batch, seed: int) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss and stats of one micro-batch, with t, noise and condition dropout from `seed`."""
        torch.manual_seed(seed)  # LoRA dropout
        batch = batch.to(self.device)
        t, eps, keep = self._draws(batch, seed)
        args = (batch.x0, self._drop(batch.cond, keep), t, eps)
        err = self._errors(*args)
        ref = None
        if self.objective.needs_reference:  # the frozen base: adapters off, no gradient
            with torch.no_grad(), self.model.disable_adapter():
                ref = self._errors(*args)
        return self.objective.loss(err, ref, batch)

    def train_step(self, step: int) -> dict[str, float]:
        """One optimizer step (step = steps completed before it); returns its log record."""
        cfg = self.config
        began = time.perf_counter()
        lr = self.optimizer.param_groups[0]["lr"]
        losses, stats = [], []
        for micro in range(cfg.grad_accum):
            batch = self.source.batch(step * cfg.grad_accum + micro)
            loss, micro_stats = self.micro_loss(batch, step_seed(cfg.seed, self.rank, step, micro))
            (loss / cfg.grad_accum).backward()
            losses.append(float(loss.detach()))
            stats.append(micro_stats)
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        if self.world_size > 1:  # torchrun (dso.scale): average gradients over ranks
            from dso.scale.distributed import average_gradients
            average_gradients(params)
        max_norm = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        if not math.isfinite(grad_norm):  # the same on every rank (after the average)
            raise ValueError(
                f"step {step + 1}: the gradient is not finite (loss {np.mean(losses):g}), so "
                "the step is not taken and the run keeps its last checkpoint: a NaN in the "
                "dataset (check it with dso data stats) or a learning rate too high "
                "(lower --lr)")
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        record = {"step": step + 1, "loss": float(np.mean(losses))}
        record.update({k: _nanmean([s[k] for s in stats]) for k in stats[0]})
        record.update(grad_norm=grad_norm, lr=lr, seconds=time.perf_counter() - began)
        if self.world_size > 1:  # torchrun (dso.scale): log the mean over ranks
            from dso.scale.torchrun import reduce_record
            record = reduce_record(record)
        return record

    def _evaluate(self, step: int, result: TrainResult) -> None:
        if self.eval_fn is None or not self.config.eval_every:
            return
        record = run_eval(self.eval_fn, self.generator, step, self.guard)
        self.eval_log.write(record)
        result.evals.append(record)

    def train(self) -> TrainResult:
        """Run from the start (or resumed) step to `config.steps`, then save."""
        cfg = self.config
        result = TrainResult(self.run_dir, self.start_step, self.start_step)
        if self.start_step == 0:
            self._evaluate(0, result)
        bar = tqdm(range(self.start_step, cfg.steps), initial=self.start_step, total=cfg.steps,
                   desc=f"train {cfg.objective}", disable=not self.progress, unit="step")
        seconds = []
        for step in bar:
            record = self.train_step(step)
            self.log.write(record)
            result.losses.append(record["loss"])
            seconds.append(record["seconds"])
            bar.set_postfix(loss=f"{record['loss']:.4f}")
            done = step + 1
            if cfg.eval_every and done % cfg.eval_every == 0 and done < cfg.steps:
                self._evaluate(done, result)
            if done % cfg.save_every == 0 or done == cfg.steps:
                self.checkpoint(done)
        bar.close()
        result.steps = max(self.start_step, cfg.steps)
        if cfg.eval_every and self.start_step < cfg.steps:
            self._evaluate(cfg.steps, result)
        result.seconds_per_step = float(np.mean(seconds)) if seconds else float("nan")
        self.save()
        return result

    # ----------------------------------------------------------------- save
    def checkpoint(self, step: int) -> None:
        """Write the checkpoint for `step` (rank 0 only)."""
        if self.writes:
            save_checkpoint(self.run_dir, step, self.model, self.spec, self.optimizer,
                            self.scheduler, keep=self.config.keep_checkpoints,
                            world_size=self.world_size)

    def save(self) -> None:
        """Write the final adapter into the run folder (rank 0 only)."""
        if self.writes:
            save_adapter(self.model, self.spec, self.run_dir)
        self.log.close()


def train(config: TrainConfig, *, generator: Any = None, source: Any = None,
          eval_fn: EvalFn | None = None, resume: bool = False, rank: int = 0,
          world_size: int = 1, progress: bool = True) -> TrainResult:
    """Fine-tune with LoRA as `config` says; see `Recipe` for the pieces."""
    from dso.scale.torchrun import launched_by_torchrun, run_distributed
    if world_size == 1 and launched_by_torchrun():  # `torchrun -m dso train`: one rank each
        return run_distributed(train, config, generator=generator, source=source,
                               eval_fn=eval_fn, resume=resume, progress=progress)
    recipe = Recipe(config, generator=generator, source=source, eval_fn=eval_fn, rank=rank,
                    world_size=world_size, progress=progress)
    return recipe.setup(resume=resume).train()
