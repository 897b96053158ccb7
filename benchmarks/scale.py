"""Labelling throughput with 1 and 2 workers: local process pool vs Ray, on the same meshes.

    .venv/bin/python benchmarks/scale.py              # 150 TRELLIS-size meshes, ~2 min
    .venv/bin/python benchmarks/scale.py --n 300

Meshes are TRELLIS-size (10-50k faces), random smooth objects meshed by marching cubes at
64^3-96^3 and written as .ply files as a dataset stores them, so loading is part of the cost.
They come in three kinds, a third each, so that the oracle's stops are all exercised: objects
that *stand* on a flat base or legs (mostly settled by the static stop, no stepping), objects
that *rock* on a rounded bottom until they settle, and objects that *fall* (a heavy part out
beyond a small foot). The share settled by the static stop is printed.

Every backend labels the same files; the rows run twice in mirrored order (A B C C B A) and
each row's time is the mean of its two runs, so a load change on the machine hits every row
alike. Rows: the local process pool started per call (`check_many`, start-up counted), a kept
local pool (`CheckPool`, as `dso label` uses; its start-up reported apart), and Ray on a
private loopback cluster of 1 or 2 CPUs (cluster start-up and worker warm-up reported apart).
The last lines turn the measured per-mesh cost into an estimate for 312k meshes on a 64-core
Ray cluster.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from dso.geometry import grid_to_mesh
from dso.physics import check_many
from dso.physics.batch import CheckPool
from dso.scale import ray_check_many
from dso.scale.ray_session import start_local

PAPER_MESHES = 312_000
CLUSTER_CORES = 64
KINDS = ("stand", "rock", "fall")


def _field(rng: np.random.Generator, res: int, kind: str = "stand") -> np.ndarray:
    """Occupancy of a random object of `kind` (stand | rock | fall)."""
    x = (np.arange(res) + 0.5) / res - 0.5
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")

    def blob(c, r):
        return ((X - c[0]) / r[0]) ** 2 + ((Y - c[1]) / r[1]) ** 2 + ((Z - c[2]) / r[2]) ** 2 < 1

    if kind == "rock":  # a squat rounded body leaning 3-35 deg: it rocks back and settles
        a = np.radians(rng.uniform(3.0, 35.0))
        u, w = np.cos(a) * X - np.sin(a) * Z, np.sin(a) * X + np.cos(a) * Z
        r = [rng.uniform(0.3, 0.4), rng.uniform(0.3, 0.4), rng.uniform(0.18, 0.26)]
        return (u / r[0]) ** 2 + (Y / r[1]) ** 2 + (w / r[2]) ** 2 < 1
    if kind == "fall":  # a column on a small foot, a heavy part far out high up
        occ = (abs(X) < 0.05) & (abs(Y) < 0.05) & (Z < 0.2)
        occ |= (abs(X) < 0.08) & (abs(Y) < 0.08) & (Z < -0.42)
        return occ | blob([rng.uniform(0.2, 0.3), 0.0, rng.uniform(0.15, 0.3)],
                          rng.uniform(0.15, 0.2, 3))
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
    """Write `n` TRELLIS-size meshes as .ply, the kinds in turn; paths and face counts."""
    rng = np.random.default_rng(seed)
    paths, faces = [], []
    while len(paths) < n:
        kind = KINDS[len(paths) % len(KINDS)]
        mesh = grid_to_mesh(_field(rng, int(rng.choice([64, 80, 96])), kind))
        if mesh is None or not 10_000 <= len(mesh.faces) <= 50_000:
            continue
        path = folder / f"{len(paths):05d}-{kind}.ply"
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


class _Rows:
    """Each backend's timed runs, with its one-off start-up costs kept apart."""

    def __init__(self, paths: list[str]) -> None:
        self.paths, self.seconds = paths, collections.defaultdict(list)
        self.startup: dict[str, list[float]] = collections.defaultdict(list)
        self.reference: list | None = None

    def run(self, name: str) -> None:
        backend, workers = name.rsplit(" ", 1)
        w = int(workers)
        if backend == "ray":
            import ray

            self.startup[f"ray cluster {w}"].append(_timed(lambda: start_local(w))[0])
            self.startup[f"ray warm-up {w}"].append(_timed(  # workers import mujoco & co once
                lambda: ray_check_many(self.paths[: 2 * w], chunk_size=1, progress=False))[0])
            sec, res = _timed(lambda: ray_check_many(self.paths, progress=False))
            ray.shutdown()
        elif backend == "kept pool":
            with CheckPool(w) as pool:
                self.startup[f"kept pool {w}"].append(_timed(  # start and warm every worker
                    lambda: check_many(self.paths[: 8 * w], pool=pool, progress=False))[0])
                sec, res = _timed(lambda: check_many(self.paths, pool=pool, progress=False))
        else:
            sec, res = _timed(lambda: check_many(self.paths, workers=w, progress=False))
        self.seconds[name].append(sec)
        self.reference = self.reference or _verdicts(res)
        assert _verdicts(res) == self.reference, f"{name} disagrees with the first backend"


def _stops(paths: list[str]) -> tuple[float, dict]:
    """CPU seconds per mesh in this process, and the stop reasons and verdicts per kind."""
    cpu = time.process_time()
    results = check_many(paths, workers=1, progress=False)
    per_mesh = (time.process_time() - cpu) / len(paths)
    table: dict = collections.defaultdict(collections.Counter)
    for path, r in zip(paths, results, strict=True):
        kind = Path(path).stem.split("-")[1]
        table[kind][r.stop_reason] += 1
        table[kind]["stable" if r.stable else "unstable"] += 1
    return per_mesh, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=150, help="meshes to label [150]")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        paths, faces = make_meshes(Path(tmp), args.n)
        print(f"{len(paths)} meshes, faces median {int(statistics.median(faces))} "
              f"(min {min(faces)}, max {max(faces)}); machine: {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f}")
        cpu, table = _stops(paths)
        _print_stops(table, len(paths))
        rows = _Rows(paths)
        order = ["local 1", "local 2", "kept pool 2", "ray 1", "ray 2"]
        for name in order + order[::-1]:
            rows.run(name)
        _report(rows, cpu, faces)


def _print_stops(table: dict, n: int) -> None:
    static = sum(c["static"] for c in table.values())
    print(f"static stop (no stepping): {static}/{n} ({100 * static / n:.0f}%); the rest simulated")
    for kind in KINDS:
        c = table[kind]
        print(f"  {kind:<6} static {c['static']}, settled {c['settled']}, fallen {c['fallen']}, "
              f"horizon {c['horizon']}; stable {c['stable']}, unstable {c['unstable']}")


def _report(rows: _Rows, cpu: float, faces: list[int]) -> None:
    n = len(rows.paths)
    mean = {k: statistics.mean(v) for k, v in rows.seconds.items()}
    print(f"\n{'backend':<12}{'workers':>8}{'seconds':>10}{'meshes/s':>10}{'speedup':>9}")
    for name, sec in mean.items():
        backend, workers = name.rsplit(" ", 1)
        base = mean["ray 1" if backend == "ray" else "local 1"]
        print(f"{backend:<12}{workers:>8}{sec:>10.2f}{n / sec:>10.2f}{base / sec:>8.2f}x")
    print("not counted above (seconds): " + ", ".join(
        f"{k} {statistics.mean(v):.1f}" for k, v in rows.startup.items())
        + "; the per-call local pool's start-up is counted in its row")
    print("all backends gave identical verdicts and tilts")
    wall = mean["ray 1"] / n
    eff = mean["ray 1"] / mean["ray 2"] / 2
    print(f"\nper mesh (median {int(statistics.median(faces))} faces): {cpu * 1e3:.0f} ms CPU "
          f"in one process; {wall * 1e3:.0f} ms wall per mesh with 1 Ray worker")
    cost = max(cpu, wall)
    cpu_h = PAPER_MESHES * cost / 3600
    ideal = PAPER_MESHES * cost / CLUSTER_CORES / 60
    print(f"312k meshes at {cost * 1e3:.0f} ms (this mix of standing, rocking and falling "
          f"objects): {cpu_h:.1f} CPU-hours; on a {CLUSTER_CORES}-core Ray cluster "
          f"~{ideal:.1f} min at linear scaling, ~{ideal / max(eff, 0.05):.1f} min at the "
          f"2-worker efficiency measured here ({eff:.0%}), plus start-up "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
