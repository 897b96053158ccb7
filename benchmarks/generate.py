"""Generator speed on this machine: samples per second, ms per sampling step, s per training step.

    .venv/bin/python benchmarks/generate.py [--weights DIR] [--world DIR] [--threads 2]

Everything is measured side by side in one run (interleaved rounds, best of each) and printed
as a table plus ratios; the load average is printed too, as the machine may be shared:
- end-to-end `generate` (condition -> 12 Euler steps with guidance -> decode -> meshes),
  and the same without meshes (latents + occupancy only);
- one sampling step (flow forward) with and without guidance, at the generation batch size;
- one AdamW training step of the flow (rectified-flow loss) at batch 8 and 16.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

import numpy as np
import torch


def _interleaved_best(jobs: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Best wall time of each job over `rounds` rounds; every round runs every job once.

    Interleaving spreads each job's runs over the whole benchmark, so a burst of load from
    other processes on a shared machine cannot spoil all runs of one job.
    """
    for fn in jobs.values():  # warm-up
        fn()
    best = {name: float("inf") for name in jobs}
    for _ in range(rounds):
        for name, fn in jobs.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def _prompts(world: str | None, k: int) -> list[np.ndarray]:
    if world:
        from dso.world import World

        objs = World.open(world).objects("eval")[:k]
        return [o.images()[0] for o in objs]
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(k)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", default="dso-tiny")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--world", default=None, help="take prompts from this world's eval split")
    parser.add_argument("--n", type=int, default=128, help="objects per generate() call")
    parser.add_argument("--batch", type=int, default=64, help="generation batch size")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--json", default=None, help="also write the numbers here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from dso.models import get_generator
    from dso.models.rectified_flow import per_sample_error, sample_t

    gen = get_generator(args.generator, weights=args.weights)
    steps = gen.sampler.steps
    prompts = _prompts(args.world, 16)
    images = [prompts[i % len(prompts)] for i in range(args.n)]

    def latents_and_grids() -> None:
        for s in range(0, args.n, args.batch):
            cond = gen.condition(images[s : s + args.batch])
            lat = gen.sample_latents(cond, list(range(s, s + len(cond))))
            gen.decode(lat)

    cond = gen.condition(images[: args.batch])
    x = torch.randn(len(cond), *gen.latent_shape)
    t = torch.full((len(cond),), 500.0)
    x2, t2, c2 = torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, torch.zeros_like(cond)])
    opt = torch.optim.AdamW(gen.flow.parameters(), lr=1e-5, weight_decay=0.01)

    @torch.no_grad()
    def flow_call(xx: torch.Tensor, tt: torch.Tensor, cc: torch.Tensor) -> None:
        gen.flow.eval()
        gen.flow(xx, tt, cc)

    def train_step(b: int) -> None:
        gen.flow.train()
        x0 = torch.randn(b, *gen.latent_shape)
        loss = per_sample_error(gen.flow, x0, cond[:b], sample_t(b), torch.randn_like(x0))
        opt.zero_grad()
        loss.mean().backward()
        opt.step()
        gen.flow.eval()

    jobs = {
        "generate": lambda: gen.generate(images, n=1, batch_size=args.batch),
        "no_mesh": latents_and_grids,
        "step_guided": lambda: flow_call(x2, t2, c2),
        "step_plain": lambda: flow_call(x, t, cond),
        "decode": lambda: gen.decode(x),
        "train_b8": lambda: train_step(8),
        "train_b16": lambda: train_step(16),
    }
    best = _interleaved_best(jobs, args.repeat)
    guided, plain = best["step_guided"], best["step_plain"]
    res = {
        "samples_per_s": args.n / best["generate"],
        "samples_per_s_no_mesh": args.n / best["no_mesh"],
        "ms_per_step_batch": 1000 * guided,
        "ms_per_step_per_sample": 1000 * guided / len(cond),
        "ms_per_step_no_guidance_batch": 1000 * plain,
        "ms_decode_per_sample": 1000 * best["decode"] / len(cond),
        "s_per_train_step_b8": best["train_b8"],
        "s_per_train_step_b16": best["train_b16"],
    }

    print(
        f"generator {gen.name}: {steps} steps, guidance {gen.sampler.guidance}, "
        f"batch {args.batch}, threads {torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    for key, value in res.items():
        print(f"  {key:<32} {value:10.3f}")
    print("ratios:")
    print(f"  guided / unguided step            {guided / plain:6.2f}x")
    print(
        f"  meshes cost (no-mesh / full rate) "
        f"{res['samples_per_s_no_mesh'] / res['samples_per_s']:6.2f}x"
    )
    print(
        f"  train step b16 / b8               "
        f"{res['s_per_train_step_b16'] / res['s_per_train_step_b8']:6.2f}x"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"generator": gen.name, "threads": torch.get_num_threads(), **res}, f, indent=2
            )


if __name__ == "__main__":
    main()
