"""Labelling throughput with 1 and 2 workers: local process pool vs Ray, on the same meshes.

    .venv/bin/python benchmarks/scale.py              # 160 TRELLIS-size meshes, ~1 min
    .venv/bin/python benchmarks/scale.py --n 400

Meshes are TRELLIS-size (10-50k faces): random smooth objects (a body on a base or legs,
sometimes overhanging) meshed by marching cubes at 64^3-96^3, written as .ply files as a dataset
stores them, so loading is part of the cost. Every backend labels the same files, side by side
in one run; the speedups are ratios measured here. Ray runs on a private loopback cluster of
1 or 2 CPUs (start-up timed apart). The last lines turn the measured per-mesh cost into an
estimate for 312k meshes on a 64-core Ray cluster (docs/measurements.md §Oracle).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from dso.geometry import grid_to_mesh
from dso.physics import check_many
from dso.scale import ray_check_many
from dso.scale.ray_session import start_local

PAPER_MESHES = 312_000
CLUSTER_CORES = 64


def _field(rng: np.random.Generator, res: int) -> np.ndarray:
    """Occupancy of a random object: a body, a base or legs, maybe an arm sticking out."""
    x = (np.arange(res) + 0.5) / res - 0.5
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")

    def blob(c, r):
        return ((X - c[0]) / r[0]) ** 2 + ((Y - c[1]) / r[1]) ** 2 + ((Z - c[2]) / r[2]) ** 2 < 1

    body_c = [rng.uniform(-0.15, 0.15), rng.uniform(-0.1, 0.1), rng.uniform(0.0, 0.2)]
    occ = blob(body_c, rng.uniform(0.12, 0.28, 3))
    if rng.random() < 0.5:  # a base slab
        w = rng.uniform(0.1, 0.35, 2)
        occ |= (abs(X) < w[0]) & (abs(Y) < w[1]) & (Z < -0.38)
    else:  # legs
        for sx in (-1, 1):
            for sy in (-1, 1):
                lx, ly = sx * rng.uniform(0.05, 0.3), sy * rng.uniform(0.05, 0.3)
                occ |= ((X - lx) ** 2 + (Y - ly) ** 2 < 0.04**2) & (Z < body_c[2])
    if rng.random() < 0.5:  # an arm
        occ |= blob([rng.uniform(0.2, 0.35), 0.0, rng.uniform(0.0, 0.3)], [0.15, 0.06, 0.06])
    occ |= (abs(X) < 0.03) & (abs(Y) < 0.03) & (Z < body_c[2])  # a stem keeps it one piece
    return occ


def make_meshes(folder: Path, n: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """Write `n` TRELLIS-size meshes as .ply (grids of 64^3 to 96^3); paths and face counts."""
    rng = np.random.default_rng(seed)
    paths, faces = [], []
    while len(paths) < n:
        mesh = grid_to_mesh(_field(rng, int(rng.choice([64, 80, 96]))))
        if mesh is None or not 10_000 <= len(mesh.faces) <= 50_000:
            continue
        path = folder / f"{len(paths):05d}.ply"
        mesh.export(path)
        paths.append(str(path))
        faces.append(len(mesh.faces))
    return paths, faces


def _timed(fn) -> tuple[float, list]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _verdicts(results) -> list:
    return [(r.status, r.stable, round(r.tilt_deg, 6) if r.status == "ok" else None)
            for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=160, help="meshes to label [160]")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        paths, faces = make_meshes(Path(tmp), args.n)
        print(f"{len(paths)} meshes, faces median {int(statistics.median(faces))} "
              f"(min {min(faces)}, max {max(faces)}); machine: {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f}")
        rows, reference = {}, None
        cpu = time.process_time()
        check_many(paths[:40], workers=1, progress=False)  # in this process: CPU time per mesh
        rows["cpu"] = (time.process_time() - cpu) / len(paths[:40])
        for workers in (1, 2):
            sec, res = _timed(lambda w=workers: check_many(paths, workers=w, progress=False))
            rows[("local", workers)] = sec
            reference = reference or _verdicts(res)
            assert _verdicts(res) == reference, "local backends disagree"
            if workers == 1:
                rows["oracle"] = statistics.mean(r.seconds for r in res)
        import ray

        for workers in (1, 2):
            rows[("ray_start", workers)], _ = _timed(lambda w=workers: start_local(w))
            rows[("ray_warm", workers)], _ = _timed(  # workers import mujoco & co once
                lambda w=workers: ray_check_many(paths[: 2 * w], chunk_size=1, progress=False))
            sec, res = _timed(lambda: ray_check_many(paths, progress=False))
            ray.shutdown()
            rows[("ray", workers)] = sec
            assert _verdicts(res) == reference, "ray disagrees with the local backend"
        _report(rows, len(paths), faces)


def _report(rows: dict, n: int, faces: list[int]) -> None:
    print(f"\n{'backend':<8}{'workers':>8}{'seconds':>10}{'meshes/s':>10}{'speedup':>9}")
    for backend in ("local", "ray"):
        for workers in (1, 2):
            sec = rows[(backend, workers)]
            print(f"{backend:<8}{workers:>8}{sec:>10.2f}{n / sec:>10.2f}"
                  f"{rows[(backend, 1)] / sec:>8.2f}x")
    print(f"not counted above: ray cluster start-up {rows[('ray_start', 1)]:.1f} s / "
          f"{rows[('ray_start', 2)]:.1f} s and worker warm-up {rows[('ray_warm', 1)]:.1f} s / "
          f"{rows[('ray_warm', 2)]:.1f} s (1 / 2 CPUs); the local pool's start-up is counted")
    print(f"ray / local, 2 workers: {rows[('local', 2)] / rows[('ray', 2)]:.2f}x throughput")
    print("all backends gave identical verdicts and tilts")
    wall, cpu = rows[("ray", 1)] / n, rows["cpu"]
    eff = rows[("ray", 1)] / rows[("ray", 2)] / 2
    print(f"\nper mesh (median {int(statistics.median(faces))} faces): {cpu * 1e3:.0f} ms CPU "
          f"in one process; {wall * 1e3:.0f} ms wall per mesh with 1 Ray worker "
          f"(oracle's own wall time {rows['oracle'] * 1e3:.0f} ms)")
    cost = max(cpu, wall)
    cpu_h = PAPER_MESHES * cost / 3600
    ideal = PAPER_MESHES * cost / CLUSTER_CORES / 60
    print(f"312k meshes at {cost * 1e3:.0f} ms: {cpu_h:.1f} CPU-hours; on a {CLUSTER_CORES}-core "
          f"Ray cluster ~{ideal:.1f} min at linear scaling (~{ideal / 0.8:.1f} min at 80% "
          f"efficiency); 2-worker efficiency measured here: {eff:.0%} "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")

if __name__ == "__main__":
    main()
