"""Seconds per optimizer step of DRO vs DPO (and SFT) at equal samples per step (CPU by default).

    .venv/bin/python benchmarks/train.py [--samples 16] [--steps 5] [--reps 7] [--weights DIR]

The headline is DRO / DPO with both objectives training on `--samples` samples per step: DRO
at batch_size S rows, DPO at S/2 (stable, unstable) pairs, as `dso train` counts them
(`Objective.batch_size_for`). Goal (issue 5): DRO <= 0.6x DPO; the script says whether it is met.
DRO at S/2 rows (the same `--batch-size` number as DPO, half the samples) and SFT at S rows are
printed too. Every figure is the median over `--reps` rounds of `--steps` steps each; the
objectives are interleaved within each round so the ratios hold on a busy machine.

The flow is the shipped `dso-tiny` one (or `--weights DIR`); when no weights are shipped yet,
a random flow of the built-in size (docs/formats.md §dso-tiny: 8 x 8^3 latents, patch 2 -> 64
tokens, width 128, 4 blocks, 64 condition tokens of width 128) stands in: the cost is the same.
Batches come from memory so only the training step is timed (LoRA forward/backward, the DPO
reference pass, AdamW).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from types import SimpleNamespace

import torch

from dso.objectives import Batch, make_objective
from dso.train.config import TrainConfig
from dso.train.recipe import Recipe

GOAL = 0.6


def _flow(weights: str | None, quiet: bool = True) -> torch.nn.Module:
    from dso.models import get_generator
    from dso.models.loading import ModelLoadError

    try:
        return get_generator("dso-tiny", weights=weights).flow
    except ModelLoadError:
        from dso.models.flow import SparseStructureFlowModel

        if not quiet:
            print("(no dso-tiny weights found: random flow of the built-in size)")
        torch.manual_seed(0)
        return SparseStructureFlowModel(resolution=8, in_channels=8, out_channels=8,
                                        model_channels=128, cond_channels=128, num_blocks=4,
                                        num_heads=4, patch_size=2)


class MemorySource:
    """One random batch of `samples` rows in the objective's layout, returned at every step."""

    def __init__(self, objective: str, samples: int, latent: tuple, cond: tuple) -> None:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(samples, *latent, generator=g)
        c = torch.randn(samples, *cond, generator=g)
        if objective == "dpo":
            w, lo = x.chunk(2)
            self.data = Batch.of_pairs(w, lo, c[: samples // 2])
        else:
            stable = torch.arange(samples) < (samples // 2 if objective == "dro" else samples)
            self.data = Batch(x, c, stable)

    def batch(self, step: int) -> Batch:
        return self.data


def _recipe(objective: str, samples: int, flow_state: dict, weights: str | None, tmp: str):
    flow = _flow(weights)
    flow.load_state_dict(flow_state)
    cond = (64, flow.cond_channels)
    latent = (flow.in_channels, *[flow.resolution] * 3)
    batch_size = make_objective(objective).batch_size_for(samples)
    cfg = TrainConfig(dataset="memory", out=f"{tmp}/{objective}{samples}", objective=objective,
                      batch_size=batch_size, steps=10**6)
    source = MemorySource(objective, samples, latent, cond)
    return Recipe(cfg, generator=SimpleNamespace(flow=flow), source=source,
                  progress=False).setup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=16, help="samples per step (even)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round")
    parser.add_argument("--reps", type=int, default=7, help="rounds (the median is reported)")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 keeps timings stable on a shared machine)")
    args = parser.parse_args()
    if args.samples < 4 or args.samples % 2:
        parser.error("--samples must be even and >= 4")
    torch.set_num_threads(args.threads)
    s = args.samples
    state = _flow(args.weights, quiet=False).state_dict()
    runs = {"dro": ("dro", s), "dpo": ("dpo", s), "sft": ("sft", s), "dro@S/2": ("dro", s // 2)}
    with tempfile.TemporaryDirectory() as tmp:
        recipes = {k: _recipe(obj, n, state, args.weights, tmp) for k, (obj, n) in runs.items()}
        step = {k: 0 for k in runs}
        times = {k: [] for k in runs}
        cpu = {k: [] for k in runs}
        for recipe in recipes.values():  # warm-up
            recipe.train_step(0)
        for _ in range(args.reps):
            for key, recipe in recipes.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                for _ in range(args.steps):
                    step[key] += 1
                    recipe.train_step(step[key])
                times[key].append((time.perf_counter() - start) / args.steps)
                cpu[key].append((time.process_time() - start_cpu) / args.steps)
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    ratio = med["dro"] / med["dpo"]
    verdict = "met" if ratio <= GOAL else "missed"
    print(f"DRO / DPO at {s} samples per step = {ratio:.2f} wall, "
          f"{med_cpu['dro'] / med_cpu['dpo']:.2f} cpu (goal <= {GOAL:.2f}: {verdict})")
    print(f"threads {torch.get_num_threads()}, median of {args.reps} rounds x {args.steps} steps")
    print(f"  {'':8s} {'samples':>8s} {'wall s/step':>12s} {'cpu s/step':>12s}")
    for key, (_, n) in runs.items():
        print(f"  {key:8s} {n:8d} {med[key]:12.4f} {med_cpu[key]:12.4f}")
    for name, (a, c) in {"SFT / DPO": ("sft", "dpo"), "DRO / SFT": ("dro", "sft"),
                         "DRO@S/2 / DPO": ("dro@S/2", "dpo")}.items():
        note = "  (same --batch-size number, half DPO's samples)" if "S/2" in name else ""
        print(f"{name:14s} = {med[a] / med[c]:.2f} wall, {med_cpu[a] / med_cpu[c]:.2f} cpu{note}")


if __name__ == "__main__":
    main()
