"""Seconds per optimizer step of DRO vs DPO vs SFT at the same batch size (CPU by default).

    .venv/bin/python benchmarks/train.py [--batch 8] [--steps 8] [--reps 3] [--weights DIR]

The flow is the shipped `dso-tiny` one (or `--weights DIR`); when no weights are shipped yet,
a random flow of the built-in size (docs/formats.md §dso-tiny: 8 x 8^3 latents, patch 2 -> 64
tokens, width 128, 4 blocks, 64 condition tokens of width 128) stands in: the cost is the same.
Batches come from memory so only the training step is timed (LoRA forward/backward, the DPO
reference pass, AdamW). "Same batch" means the same `--batch-size`: B rows for DRO and SFT,
B (w, l) pairs for DPO, as `dso train` counts them; DRO at 2B (as many trained samples as DPO
at B pairs) is printed too. Objectives are interleaved in rounds so the ratios hold on a busy
machine. Goal (issue 5): DRO <= 0.6x DPO.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from types import SimpleNamespace

import torch

from dso.train.config import TrainConfig
from dso.train.recipe import Recipe


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
    """Random batches in the BatchSource format, fixed per step."""

    def __init__(self, objective: str, batch: int, latent: tuple, cond: tuple) -> None:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(2 * batch, *latent, generator=g)
        c = torch.randn(batch, *cond, generator=g)
        if objective == "dpo":
            self.data = {"x0_w": x[:batch], "x0_l": x[batch:], "cond": c}
        else:
            stable = torch.arange(batch) < (batch // 2 if objective == "dro" else batch)
            self.data = {"x0": x[:batch], "cond": c, "stable": stable}

    def batch(self, step: int) -> dict:
        return self.data


def _recipe(objective: str, batch: int, flow_state: dict, weights: str | None, tmp: str):
    flow = _flow(weights)
    flow.load_state_dict(flow_state)
    cond = (64, flow.cond_channels)
    latent = (flow.in_channels, *[flow.resolution] * 3)
    cfg = TrainConfig(dataset="memory", out=f"{tmp}/{objective}{batch}", objective=objective,
                      batch_size=batch, steps=10**6)
    source = MemorySource(objective, batch, latent, cond)
    return Recipe(cfg, generator=SimpleNamespace(flow=flow), source=source,
                  progress=False).setup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round")
    parser.add_argument("--reps", type=int, default=3, help="rounds")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 keeps timings stable on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    b = args.batch
    state = _flow(args.weights, quiet=False).state_dict()
    runs = {"sft": ("sft", b), "dro": ("dro", b), "dpo": ("dpo", b), "dro@2B": ("dro", 2 * b)}
    with tempfile.TemporaryDirectory() as tmp:
        recipes = {k: _recipe(obj, bs, state, args.weights, tmp) for k, (obj, bs) in runs.items()}
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
    best = {k: min(v) for k, v in times.items()}
    best_cpu = {k: min(v) for k, v in cpu.items()}
    print(f"threads {torch.get_num_threads()}, batch {b}, {args.reps} rounds x {args.steps} "
          "steps (best round)")
    print(f"  {'':7s} {'wall s/step':>12s} {'cpu s/step':>12s}")
    for key in runs:
        print(f"  {key:7s} {best[key]:12.4f} {best_cpu[key]:12.4f}")
    for name, (a, c) in {"DRO / DPO": ("dro", "dpo"), "SFT / DPO": ("sft", "dpo"),
                         "DRO / SFT": ("dro", "sft"), "DRO@2B / DPO": ("dro@2B", "dpo")}.items():
        note = {"DRO / DPO": "  (goal <= 0.60)",
                "DRO@2B / DPO": "  (same number of trained samples)"}.get(name, "")
        print(f"{name:13s} = {best[a] / best[c]:.2f} wall, {best_cpu[a] / best_cpu[c]:.2f} cpu"
              f"{note}")


if __name__ == "__main__":
    main()
