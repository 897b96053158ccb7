"""Labelling from the occupancy grid vs from the mesh file, side by side, one core.

    .venv/bin/python benchmarks/grid.py --dataset demo_out/dataset             # ~3 min
    .venv/bin/python benchmarks/grid.py --dataset demo_out/dataset --limit 0   # every sample

1. The demo's dso-tiny samples (32^3 grids). The dataset predates stored grids, so each
   sample's grid is recovered from its mesh file (solid voxelisation at the voxel centres) and
   kept only when marching cubes of it rebuilds the stored mesh exactly: then it is the grid
   the generator made. Each sample is checked both ways, interleaved: the mesh file (load +
   oracle, what `dso label` did) and the grid (`dso.physics.grid.Grid`: meshed in memory,
   what `dso label` does now for datasets that store grids). Verdicts are compared with each
   other and with the labels stored in the dataset (written by `dso label` when the demo ran).
2. 64^3, TRELLIS's grid size: the same grids upsampled 2x (each voxel a 2^3 block), and
   random TRELLIS-like objects that stand, rock and fall (benchmarks/scale.py's) at 64^3,
   written as .ply for the file
   path. Goal: <= 20 ms per sample from the grid on one core.

Samples are spread evenly over the dataset (`--limit` of them; 0 = all).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import trimesh

from dso.geometry import grid_to_mesh, mesh_to_grid
from dso.physics import OracleConfig
from dso.physics.grid import Grid
from dso.physics.oracle import evaluate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import KINDS, _field  # noqa: E402  (TRELLIS-like occupancy: stand, rock, fall)

CONFIG = OracleConfig.from_preset("accurate")


def _recover(path: Path) -> np.ndarray | None:
    """The 32^3 grid whose marching cubes is exactly the mesh stored at `path`, else None."""
    mesh = trimesh.load(str(path), process=False)
    grid = mesh_to_grid(mesh, 32)
    rebuilt = grid_to_mesh(grid)
    if rebuilt is None or not (np.array_equal(rebuilt.vertices, mesh.vertices)
                               and np.array_equal(rebuilt.faces, mesh.faces)):
        return None
    return grid


def _check(item) -> tuple[float, object]:
    evaluation = evaluate(item, CONFIG)
    return evaluation.result.seconds, evaluation.result


def _side_by_side(pairs: list[tuple[object, object]]) -> tuple[list, list, list, list]:
    """(file seconds, grid seconds, file results, grid results), alternating which goes first."""
    t_file, t_grid, r_file, r_grid = [], [], [], []
    for k, (path, grid) in enumerate(pairs):
        order = [("file", path), ("grid", grid)]
        for name, item in order if k % 2 == 0 else order[::-1]:
            seconds, result = _check(item)
            (t_file if name == "file" else t_grid).append(seconds)
            (r_file if name == "file" else r_grid).append(result)
    return t_file, t_grid, r_file, r_grid


def _ms(values: list[float]) -> str:
    return (f"median {1e3 * statistics.median(values):.1f} ms, "
            f"p90 {1e3 * float(np.percentile(values, 90)):.1f} ms")


def _report(name: str, t_file: list, t_grid: list, r_file: list, r_grid: list) -> None:
    agree = sum(a.stable == b.stable and a.status == b.status for a, b in zip(r_file, r_grid,
                                                                              strict=True))
    ratios = [f / g for f, g in zip(t_file, t_grid, strict=True)]
    faces = int(statistics.median([r.faces or 0 for r in r_grid]))
    print(f"   {name} ({len(r_grid)} samples, median {faces} faces)")
    print(f"     from the grid: {_ms(t_grid)};  from the mesh file: {_ms(t_file)};  "
          f"file / grid per sample: median {statistics.median(ratios):.2f}x")
    print(f"     verdicts grid = file: {agree}/{len(r_grid)}"
          + "".join(f"\n     differs: {a.path}: file {a.stable} ({a.tilt_deg:.2f} deg), grid "
                    f"{b.stable} ({b.tilt_deg:.2f} deg)"
                    for a, b in zip(r_file, r_grid, strict=True) if a.stable != b.stable))


def _demo_samples(dataset: Path, limit: int) -> list[tuple[Path, bool | None]]:
    db = sqlite3.connect(f"file:{dataset / 'index.sqlite'}?mode=ro&immutable=1", uri=True)
    rows = db.execute("SELECT s.mesh_path, l.stable FROM samples s LEFT JOIN labels l "
                      "USING (sample_id) WHERE s.status = 'ok' AND s.mesh_path IS NOT NULL "
                      "ORDER BY s.sample_id").fetchall()
    db.close()
    if limit and len(rows) > limit:
        rows = [rows[round(i * len(rows) / limit)] for i in range(limit)]
    return [(dataset / p, None if s is None else bool(s)) for p, s in rows]


def section_demo(dataset: Path, limit: int, tmp: Path) -> list[np.ndarray]:
    samples = _demo_samples(dataset, limit)
    print(f"\n1. dso-tiny samples of {dataset} (32^3), {len(samples)} spread over the dataset")
    pairs, stored, grids = [], [], []
    for path, label in samples:
        grid = _recover(path)
        if grid is not None:
            pairs.append((str(path), Grid(grid, name=str(path))))
            stored.append(label)
            grids.append(grid)
    print(f"   grids recovered exactly for {len(pairs)}/{len(samples)}")
    t_file, t_grid, r_file, r_grid = _side_by_side(pairs)
    _report("32^3", t_file, t_grid, r_file, r_grid)
    known = [(s, f, g) for s, f, g in zip(stored, r_file, r_grid, strict=True) if s is not None]
    print(f"     = labels stored in the dataset: file {sum(s == f.stable for s, f, _ in known)}"
          f"/{len(known)}, grid {sum(s == g.stable for s, _, g in known)}/{len(known)}")
    return grids


def _written(grids: list[np.ndarray], tmp: Path, tag: str) -> list[tuple[str, Grid]]:
    pairs = []
    for i, grid in enumerate(grids):
        mesh = grid_to_mesh(grid)
        if mesh is None:
            continue
        path = tmp / f"{tag}{i:05d}.ply"
        mesh.export(path)
        pairs.append((str(path), Grid(grid, name=str(path))))
    return pairs


def section_64(grids: list[np.ndarray], n_random: int, tmp: Path) -> None:
    print("\n2. 64^3 grids (TRELLIS's size)")
    up = [g.repeat(2, 0).repeat(2, 1).repeat(2, 2) for g in grids]
    if up:
        _report("dso-tiny grids upsampled 2x", *_side_by_side(_written(up, tmp, "up")))
    rng = np.random.default_rng(0)
    random = [_field(rng, 64, KINDS[i % len(KINDS)]) for i in range(n_random)]
    _report("random TRELLIS-like objects", *_side_by_side(_written(random, tmp, "rand")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=Path("demo_out/dataset"))
    parser.add_argument("--limit", type=int, default=1000, help="demo samples [1000; 0 = all]")
    parser.add_argument("--upsampled", type=int, default=300, help="of them upsampled [300]")
    parser.add_argument("--random", type=int, default=100, help="random 64^3 objects [100]")
    parser.add_argument("--hull-tol", type=float, default=0.0,
                        help="the oracle's hull tolerance on both paths [0: exact, the default "
                        "of dso label]; e.g. 5e-4 to see what the opt-in reduced hull flips "
                        "against the stored labels")
    args = parser.parse_args()
    global CONFIG
    CONFIG = OracleConfig.from_preset("accurate", hull_tol=args.hull_tol)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    start = time.perf_counter()
    print(f"one process, one core; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores; hull_tol {args.hull_tol:g}")
    with tempfile.TemporaryDirectory() as tmp:
        grids = []
        if (args.dataset / "index.sqlite").exists():
            grids = section_demo(args.dataset, args.limit, Path(tmp))
        else:
            print(f"\n1. skipped: no dataset at {args.dataset}")
        step = max(1, len(grids) // max(1, args.upsampled))
        section_64(grids[::step][: args.upsampled], args.random, Path(tmp))
    print(f"\n(total {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
