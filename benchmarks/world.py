"""World build speed: objects per second including 6 renders at 64 px (goal: >= 20/s, 2 cores).

    .venv/bin/python benchmarks/world.py [N]

Builds N training objects (all training families, the stable-ground-truth gate included, every
file written) with 1 worker and with 2 workers, side by side in one run, and prints the
wall-clock objects per second of each (the headline: 2 workers against the goal), the CPU
milliseconds per object, and where one core's time goes. The load average before and after is
printed too: on a machine shared with other work the wall-clock rates drop, and the figure is
what this machine did at that load, not an estimate for free cores.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dso.geometry import mesh_to_grid
from dso.render import render_views
from dso.world import TRAIN_FAMILIES, build_world, make_object
from dso.world.gate import judge
from dso.world.objects import grid_bytes, png_bytes

GOAL = 20.0


def _build(root: Path, n: int, workers: int) -> tuple[float, float, dict]:
    start = time.perf_counter()
    world = build_world(root, n_train=n, n_eval=0, n_synthetic=0, n_val=0, wild_per_family=0,
                        workers=workers, progress=False)
    wall = time.perf_counter() - start
    cpu = float(np.mean([o.record["cpu_seconds"] for o in world]))
    return wall, cpu, world.meta


def _stages(n: int) -> dict[str, float]:
    """CPU milliseconds per object in each stage, one core, one draw per object."""
    spent = dict.fromkeys(("build mesh", "oracle gate", "grid 32^3 (2x ss)", "6 renders 64 px",
                           "encode + files"), 0.0)
    for k in range(n):
        family = TRAIN_FAMILIES[k % len(TRAIN_FAMILIES)]
        t = time.process_time()
        params, mesh = make_object(family, k)
        spent["build mesh"] += time.process_time() - t
        t = time.process_time()
        judge(mesh, 2.0, 0.005)
        spent["oracle gate"] += time.process_time() - t
        t = time.process_time()
        occ = mesh_to_grid(mesh, 32, supersample=2)
        spent["grid 32^3 (2x ss)"] += time.process_time() - t
        t = time.process_time()
        views = render_views(mesh, 6, 64, seed=k, color=params["color"])
        spent["6 renders 64 px"] += time.process_time() - t
        t = time.process_time()
        [png_bytes(v) for v in views], grid_bytes(occ), mesh.export(file_type="ply")
        spent["encode + files"] += time.process_time() - t
    return {name: 1000.0 * s / n for name, s in spent.items()}


def main(n: int = 200) -> None:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        one = _build(Path(tmp) / "w1", n, workers=1)
        two = _build(Path(tmp) / "w2", n, workers=2)
    print(f"world build, {n} training objects, 6 views at 64 px, 32^3 grids, oracle gate")
    print(f"  load average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
          f"{os.cpu_count()} cores")
    for label, (wall, cpu, _meta) in (("1 worker ", one), ("2 workers", two)):
        print(f"  {label}: {n / wall:6.1f} obj/s wall ({wall:5.1f} s), "
              f"{1000 * cpu:5.1f} ms CPU per object")
    print(f"  headline, 2 workers: {n / two[0]:.1f} obj/s wall = {n / two[0] / GOAL:.2f} x goal "
          f"{GOAL:.0f}/s")
    print(f"  speed-up 2 workers / 1 worker: {one[0] / two[0]:.2f}x")
    rejected = one[2]["rejected_fraction"]
    print("  rejected draws: " + ", ".join(f"{f} {100 * x:.0f}%" for f, x in rejected.items()))
    print("  one core, per object (first draw only):")
    for name, ms in _stages(max(20, n // 5)).items():
        print(f"    {name:<20} {ms:6.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
