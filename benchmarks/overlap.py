"""Labelling while generating: `dso generate` then `dso label`, against `dso generate` with
`dso label --follow` beside it, on one dataset and this machine's cores.

    .venv/bin/python benchmarks/overlap.py --world demo_out/world [--objects 48] [--rounds 3]

Each round makes the same dataset twice, in mirrored order (A B, then B A):
- one after the other: `dso generate --out D`, then `dso label D`;
- following: `dso generate --out D` and, once it holds the dataset's generate lock (as a user
  starts it: after `dso generate`), `dso label D --follow`, which labels each chunk as it is
  committed and ends when generation has ended. Wall time runs until both have finished.
Both do the same work: the same prompts and seeds, every sample labelled, and the labels are
checked to be equal. The headline is the median over rounds of following / one after the
other: 1.0 means the two jobs only take cores from each other; 0.8 would be a 20% saving. CPU
seconds (user + system of both processes) are printed too. Both commands run as a user runs
them (default workers: one per core each).
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
sys.path.insert(0, str(SRC))
from dso.data.files import lock_held  # noqa: E402
from dso.data.store import SampleStore  # noqa: E402


def _generate_cmd(world: Path, objects: int, out: Path) -> list[str]:
    return [sys.executable, "-m", "dso", "generate", "--generator", "dso-tiny", "--world",
            str(world), "--split", "train", "--views", "4", "--n", "4", "--limit", str(objects),
            "--out", str(out), "--quiet"]


def _label_cmd(dataset: Path, follow: bool) -> list[str]:
    return [sys.executable, "-m", "dso", "label", str(dataset), "--quiet",
            *(["--follow"] if follow else [])]


def _run(world: Path, objects: int, out: Path, follow: bool) -> tuple[float, float]:
    """Wall and CPU seconds (children's user + system) of making and labelling `out`."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    shutil.rmtree(out, ignore_errors=True)
    quiet = {"env": env, "stdout": subprocess.DEVNULL}
    before, start = os.times(), time.perf_counter()
    if follow:
        gen = subprocess.Popen(_generate_cmd(world, objects, out), **quiet)
        while not lock_held(out / ".lock-generate"):
            if gen.poll() is not None:
                raise SystemExit(f"dso generate ended before it took its lock ({gen.returncode})")
            time.sleep(0.05)
        lab = subprocess.Popen(_label_cmd(out, follow=True), **quiet)
        codes = [gen.wait(), lab.wait()]
    else:
        codes = [subprocess.run(_generate_cmd(world, objects, out), **quiet).returncode]
        codes.append(subprocess.run(_label_cmd(out, follow=False), **quiet).returncode)
    wall, after = time.perf_counter() - start, os.times()
    if any(codes):
        raise SystemExit(f"a command failed (exit codes {codes})")
    cpu = (after.children_user - before.children_user) + (after.children_system
                                                          - before.children_system)
    return wall, cpu


def _labels(dataset: Path) -> dict:
    with SampleStore.open(dataset) as store:
        return {r["sample_id"]: r["stable"] for r in store.records()
                if r["label_status"] is not None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, required=True, help="a world (demo_out/world)")
    parser.add_argument("--objects", type=int, default=48, help="objects (x16 samples)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dso-overlap-"))
    print(f"{16 * args.objects} samples per dataset; load average {os.getloadavg()[0]:.1f}",
          flush=True)
    try:
        ratios, cpu_ratios = [], []
        for r in range(args.rounds):
            walls, cpus, labels = {}, {}, {}
            for follow in ((False, True), (True, False))[r % 2]:
                out = tmp / f"ds-{follow}"
                walls[follow], cpus[follow] = _run(args.world, args.objects, out, follow)
                labels[follow] = _labels(out)
            if labels[True] != labels[False] or not labels[True]:
                raise SystemExit("the two ways gave different labels")
            ratios.append(walls[True] / walls[False])
            cpu_ratios.append(cpus[True] / cpus[False])
            print(f"   round {r + 1}: generate then label {walls[False]:.1f} s "
                  f"(CPU {cpus[False]:.1f} s), label --follow beside generate "
                  f"{walls[True]:.1f} s (CPU {cpus[True]:.1f} s); labels equal", flush=True)
        print(f"following / one after the other, wall: median {statistics.median(ratios):.2f}"
              f" (range {min(ratios):.2f}-{max(ratios):.2f}); CPU: median "
              f"{statistics.median(cpu_ratios):.2f}; load average {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
