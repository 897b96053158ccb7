"""Would labelling alongside generation help? `dso generate` and `dso label`, one after the
other vs at the same time, on this machine's cores.

    .venv/bin/python benchmarks/overlap.py --world demo_out/world [--objects 48] [--rounds 3]

Each round generates one dataset (A) and labels another, already generated one (B), twice in
mirrored order: one after the other (wall = the sum) and side by side (two processes started
together; wall = until both have finished). Both sides do the same work: the same prompts, seeds
and samples, a fresh copy of B's unlabelled dataset each time. The headline is the median over
rounds of side-by-side / one-after-the-other wall time: 1.0 means the two jobs only take cores
from each other and overlapping them gains nothing; 0.8 would be a 20% saving. CPU seconds
(user + system of both processes) are printed too. Both commands run as a user runs them
(default workers: one per core each).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _generate_cmd(world: Path, objects: int, out: Path, seed: int) -> list[str]:
    return [sys.executable, "-m", "dso", "generate", "--generator", "dso-tiny", "--world",
            str(world), "--split", "train", "--views", "4", "--n", "4", "--limit", str(objects),
            "--seed", str(seed), "--out", str(out), "--quiet"]


def _label_cmd(dataset: Path) -> list[str]:
    return [sys.executable, "-m", "dso", "label", str(dataset), "--quiet"]


def _run(cmds: list[list[str]], together: bool) -> tuple[float, float]:
    """Wall and CPU seconds (children's user + system) of the commands, serial or together."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    before = os.times()
    start = time.perf_counter()
    if together:
        procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL) for c in cmds]
        codes = [p.wait() for p in procs]
    else:
        codes = [subprocess.run(c, env=env, stdout=subprocess.DEVNULL).returncode for c in cmds]
    wall = time.perf_counter() - start
    after = os.times()
    if any(codes):
        raise SystemExit(f"a command failed (exit codes {codes}): {cmds}")
    cpu = (after.children_user - before.children_user) + (after.children_system
                                                          - before.children_system)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, required=True, help="a world (demo_out/world)")
    parser.add_argument("--objects", type=int, default=48, help="objects per dataset (x16)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dso-overlap-"))
    try:
        source = tmp / "unlabelled"
        _run([_generate_cmd(args.world, args.objects, source, seed=10_000)], together=False)
        print(f"{16 * args.objects} samples per job; load average "
              f"{os.getloadavg()[0]:.1f}", flush=True)
        ratios, cpu_ratios = [], []
        for r in range(args.rounds):
            walls, cpus = {}, {}
            for mode in (("serial", "together"), ("together", "serial"))[r % 2]:
                gen, lab = tmp / f"gen-{mode}", tmp / f"lab-{mode}"
                shutil.rmtree(gen, ignore_errors=True)
                shutil.rmtree(lab, ignore_errors=True)
                shutil.copytree(source, lab)
                cmds = [_generate_cmd(args.world, args.objects, gen, seed=0), _label_cmd(lab)]
                walls[mode], cpus[mode] = _run(cmds, together=mode == "together")
            ratios.append(walls["together"] / walls["serial"])
            cpu_ratios.append(cpus["together"] / cpus["serial"])
            print(f"   round {r + 1}: one after the other {walls['serial']:.1f} s "
                  f"(CPU {cpus['serial']:.1f} s), side by side {walls['together']:.1f} s "
                  f"(CPU {cpus['together']:.1f} s)", flush=True)
        print(f"side by side / one after the other, wall: median {statistics.median(ratios):.2f}"
              f" (range {min(ratios):.2f}-{max(ratios):.2f}); CPU: median "
              f"{statistics.median(cpu_ratios):.2f}; load average {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
