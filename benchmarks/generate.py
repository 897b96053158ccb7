"""`dso generate` speed through the CLI: marginal samples/s on world prompts, median of rounds.

    .venv/bin/python benchmarks/generate.py [--world DIR] [--rounds 3] [--baseline-src DIR]

Marginal rate (the headline): each round runs `dso generate --generator dso-tiny --world W
--split train --views 4 --n 4` as two fresh processes, a small one (`--small` objects) and a
big one (`--big` objects), and takes (samples_big - samples_small) / (wall_big - wall_small).
Start-up (interpreter, imports, loading weights, opening the world) cancels out, so the figure
is what one more sample costs in a long run. The headline is the median over rounds; min and
max are printed beside it, and the marginal CPU time per sample (user + system, the same
difference), which other jobs on a shared machine inflate less than the wall time.

Configurations are timed side by side, interleaved within each round (a burst of load from
other jobs hits them alike), and printed with their ratio:
- `default`: `dso generate` as a user runs it;
- `workers=1`: one chunk at a time on all cores (how it ran before issue 13);
- `baseline`, with `--baseline-src DIR`: the CLI from another source tree (e.g. an older
  commit: `git archive <commit> src | tar -x -C /tmp/old`, then `--baseline-src /tmp/old/src`).

Then a profile: CPU milliseconds per sample of each stage of one chunk of 64 samples on one
torch thread (thread CPU time, which a shared machine inflates less than wall time):
conditioning, flow sampling, decoding, marching cubes, and writing (PLY + shard). With
`--baseline-src` the baseline tree is profiled too. Without `--world` a small world is built
in a temporary folder first (about 10 s). The load average is printed: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
VIEWS, N = 4, 4  # prompts per object, samples per prompt: 16 samples per object


def _env(src: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(src)}


def _build_world(out: Path) -> None:
    cmd = [sys.executable, "-m", "dso", "world", "build", str(out), "--n", "40", "--n-eval",
           "10", "--n-synthetic", "0", "--n-val", "0", "--wild-per-family", "0"]
    subprocess.run(cmd, check=True, env=_env(SRC), stdout=subprocess.DEVNULL)


def _cli_run(src: Path, world: Path, objects: int, out: Path,
             extra: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one `dso generate` process, fresh folder."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "dso", "generate", "--generator", "dso-tiny", "--world",
           str(world), "--split", "train", "--views", str(VIEWS), "--n", str(N), "--limit",
           str(objects), "--out", str(out), "--quiet", *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=_env(src), stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    shutil.rmtree(out, ignore_errors=True)
    return seconds, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def marginal_rates(configs: dict[str, tuple[Path, list[str]]], world: Path, small: int,
                   big: int, rounds: int, scratch: Path) -> tuple[dict, dict]:
    """Per configuration and round: marginal samples/s, and marginal CPU ms per sample."""
    extra_samples = (big - small) * VIEWS * N
    rates: dict[str, list[float]] = {name: [] for name in configs}
    cpu: dict[str, list[float]] = {name: [] for name in configs}
    for name, (src, extra) in configs.items():  # warm-up: files in the page cache, bytecode
        _cli_run(src, world, small, scratch / f"{name}-warm-up", extra)
    for r in range(rounds):
        # every run of the round alternates between configurations, and the order flips
        # from round to round, so a burst of load from other jobs hits all of them alike
        order = [(k, name) for k in (small, big) for name in configs]
        runs = {}
        for k, name in order if r % 2 == 0 else order[::-1]:
            src, extra = configs[name]
            runs[k, name] = _cli_run(src, world, k, scratch / f"{name}-{k}", extra)
        for name in configs:
            (wall_s, cpu_s), (wall_b, cpu_b) = runs[small, name], runs[big, name]
            rates[name].append(extra_samples / (wall_b - wall_s))
            cpu[name].append(1000 * (cpu_b - cpu_s) / extra_samples)
            print(f"  round {r + 1} {name:<9} small {wall_s:6.1f} s  big {wall_b:6.1f} s  "
                  f"marginal {rates[name][-1]:6.1f} samples/s, {cpu[name][-1]:5.1f} CPU ms "
                  "per sample", flush=True)
    return rates, cpu


def profile_stages(world: Path, repeat: int = 3) -> dict[str, float]:
    """CPU ms per sample of each stage of `dso generate`, one chunk of 64 samples, 1 thread.

    Uses only the public generator API, so that an older source tree can be profiled too.
    """
    import torch

    from dso.data.prompts import prompts_from_world

    try:
        from dso.data.files import write_shard
    except ImportError:  # a source tree from before data/files.py
        from dso.data.store import write_shard
    from dso.models import get_generator

    torch.set_num_threads(1)
    gen = get_generator("dso-tiny")
    prompts = prompts_from_world(world, "train", views=VIEWS, limit=64 // (VIEWS * N))
    images = [p.load_image() for p in prompts]
    seeds = list(range(len(images) * N))
    rows = torch.arange(len(images)).repeat_interleave(N)
    times: dict[str, list[float]] = {}

    def timed(name: str, fn, *args):
        start = time.thread_time()
        out = fn(*args)
        times.setdefault(name, []).append(time.thread_time() - start)
        return out

    tmp = Path(tempfile.mkdtemp(prefix="dso-prof-"))
    try:
        for _ in range(repeat + 1):  # the first round warms up and is dropped
            cond = timed("condition", gen.condition, images)
            lat = timed("flow sampling", gen.sample_latents, cond[rows], seeds)
            grids = timed("decode", gen.decode, lat)
            meshes = timed("marching cubes", _meshes, grids)
            timed("write", _write, tmp, meshes, lat, write_shard)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    per = {k: 1000 * statistics.median(v[1:]) / len(seeds) for k, v in times.items()}
    return per


def _meshes(grids) -> list:
    from dso.geometry import grid_to_mesh

    return [grid_to_mesh(g) for g in grids]


def _write(folder: Path, meshes: list, latents, write_shard) -> None:
    for i, mesh in enumerate(meshes):
        if mesh is not None:
            (folder / f"{i}.ply").write_bytes(mesh.export(file_type="ply"))
    write_shard(folder / "latents.safetensors", {"latents": latents})


def _profile_in(src: Path, world: Path) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--profile-only", "--world", str(world)]
    done = subprocess.run(cmd, check=True, env=_env(src), capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, default=None, help="world folder (train split)")
    parser.add_argument("--small", type=int, default=8, help="objects in the small run")
    parser.add_argument("--big", type=int, default=32, help="objects in the big run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--baseline-src", type=Path, default=None,
                        help="also time the CLI of this source tree (its `src` folder)")
    parser.add_argument("--no-workers-1", action="store_true", help="skip the workers=1 rows")
    parser.add_argument("--json", default=None, help="also write the numbers here")
    parser.add_argument("--profile-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile_only:
        print(json.dumps(profile_stages(args.world)))
        return

    scratch = Path(tempfile.mkdtemp(prefix="dso-bench-generate-"))
    try:
        world = args.world
        if world is None:
            world = scratch / "world"
            _build_world(world)
        configs: dict[str, tuple[Path, list[str]]] = {"default": (SRC, [])}
        if not args.no_workers_1:
            configs["workers=1"] = (SRC, ["--workers", "1"])
        if args.baseline_src is not None:
            configs["baseline"] = (args.baseline_src.resolve(), [])
        print(f"dso generate, dso-tiny, {VIEWS} views x n={N}: small {args.small} objects "
              f"({args.small * VIEWS * N} samples), big {args.big} ({args.big * VIEWS * N}); "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
        start = time.perf_counter()
        rates, cpu = marginal_rates(configs, world, args.small, args.big, args.rounds,
                                    scratch)
        profiles = {"default": _profile_in(SRC, world)}
        if args.baseline_src is not None:
            profiles["baseline"] = _profile_in(args.baseline_src.resolve(), world)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _report(rates, cpu, profiles, time.perf_counter() - start, args.json)


def _report(rates: dict[str, list[float]], cpu: dict[str, list[float]],
            profiles: dict[str, dict[str, float]], seconds: float,
            json_path: str | None) -> None:
    med = {name: statistics.median(v) for name, v in rates.items()}
    print(f"marginal samples/s through the CLI (median [min, max] of {len(rates['default'])} "
          f"rounds; load average now {os.getloadavg()[0]:.1f}), and CPU ms per sample:")
    for name, v in rates.items():
        print(f"  {name:<10} {med[name]:6.1f}  [{min(v):.1f}, {max(v):.1f}]   "
              f"{statistics.median(cpu[name]):6.1f} CPU ms")
    for name in med:
        if name != "default":
            print(f"  default / {name:<10} {med['default'] / med[name]:5.2f}x")
    print("CPU ms per sample, one chunk of 64 on 1 torch thread (median of 3):")
    stages = list(profiles["default"])
    print("  " + " " * 16 + "".join(f"{name:>10}" for name in profiles))
    for stage in stages + ["total"]:
        vals = [sum(p.values()) if stage == "total" else p[stage] for p in profiles.values()]
        print(f"  {stage:<16}" + "".join(f"{v:10.2f}" for v in vals))
    print(f"({seconds:.0f} s)")
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"marginal_samples_per_s": rates, "median": med,
                       "marginal_cpu_ms_per_sample": cpu, "profile_cpu_ms_per_sample": profiles},
                      f, indent=2)


if __name__ == "__main__":
    main()
