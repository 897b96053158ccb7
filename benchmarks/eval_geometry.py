"""Per-object cost of the geometry metrics (Chamfer + F-score, ICP) at several sample counts,
for each ICP protocol (`dso.eval.icp`: "paper" = the release's capped fit on all points,
"dso-v1" = uncapped on 1000 points) and without ICP ("none").

    .venv/bin/python benchmarks/eval_geometry.py [WORLD_DIR]

Predictions are 32^3 voxel reconstructions (what the built-in generator outputs looks like)
scored against the closed ground-truth mesh: a table-like object turned by a few degrees, or,
given a built world, every eval object's own grid against its mesh, and each ground truth
against itself (the sampling floor of CD, which depends on the shape). The ground truth is
prepared once per object (as `evaluate` does, shared by its views); the time below is per
prediction. Printed side by side in one run, so ratios hold on a busy machine.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import trimesh

from dso.eval.metrics import chamfer_fscore, prepare_target
from dso.geometry import grid_to_mesh, mesh_to_grid, normalize_mesh


def _object() -> trimesh.Trimesh:
    top = trimesh.creation.box((0.9, 0.6, 0.08))
    top.apply_translation([0, 0, 0.6])
    legs = [trimesh.creation.cylinder(radius=0.04, height=0.6) for _ in range(4)]
    for leg, (x, y) in zip(legs, [(-0.4, -0.25), (0.4, -0.25), (-0.4, 0.25), (0.4, 0.25)],
                           strict=True):
        leg.apply_translation([x, y, 0.3])
    return normalize_mesh(trimesh.util.concatenate([top, *legs]))


PROTOCOLS = ("paper", "dso-v1", "none")


def _icp(protocol: str) -> dict:
    return {"icp": False} if protocol == "none" else {"protocol": protocol}


def _time(fn, repeat: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def _world_pairs(path: str) -> list[tuple[trimesh.Trimesh, trimesh.Trimesh]]:
    from dso.world import World

    return [(o.mesh(), grid_to_mesh(o.grid())) for o in World.open(path).objects("eval")]


def main_world(path: str) -> None:
    pairs = _world_pairs(path)
    print(f"{len(pairs)} eval objects, prediction faces "
          f"{int(np.mean([len(p.faces) for _, p in pairs]))} on average")
    for n in (10000, 5000, 2000):
        for protocol in PROTOCOLS:
            targets = [prepare_target(gt, n_points=n) for gt, _ in pairs]
            start = time.perf_counter()
            scores = [chamfer_fscore(p, t, n_points=n, workers=1, **_icp(protocol))
                      for t, (_, p) in zip(targets, pairs, strict=True)]
            dt = (time.perf_counter() - start) / len(pairs)
            cd, f = np.mean(scores, axis=0)
            print(f"n_points={n:5d} icp={protocol:6}  {1000 * dt:6.1f} ms/object  "
                  f"mean CD {cd:.4f}  F {f:6.2f}")
    # the sampling floor: each ground truth scored against itself (no ICP), points drawn
    # independently on both sides, as for a prediction
    for n in (10000, 2000):
        floors = [chamfer_fscore(gt, prepare_target(gt, n_points=n), n_points=n,
                                 workers=1, icp=False)[0] for gt, _ in pairs]
        print(f"sampling floor at n_points={n:5d}: CD of a ground truth against itself "
              f"{min(floors):.4f}-{max(floors):.4f} (median {np.median(floors):.4f})")


def main(repeat: int = 20) -> None:
    gt = _object()
    pred = grid_to_mesh(mesh_to_grid(gt, 32))
    pred.apply_transform(trimesh.transformations.rotation_matrix(np.radians(4), [0, 0, 1]))
    print(f"gt faces {len(gt.faces)}, prediction faces {len(pred.faces)}")
    base = None
    for n in (10000, 5000, 2000):
        target = prepare_target(gt, n_points=n)
        prep = _time(lambda n=n: prepare_target(gt, n_points=n), repeat)
        for protocol in PROTOCOLS:
            kw = _icp(protocol)
            dt = _time(lambda t=target, n=n, kw=kw: chamfer_fscore(pred, t, n_points=n,
                                                                   workers=1, **kw), repeat)
            base = base or dt
            cd, f = chamfer_fscore(pred, target, n_points=n, **kw)
            print(f"n_points={n:5d} icp={protocol:6}  {1000 * dt:6.1f} ms/object "
                  f"({dt / base:4.2f}x of 10k+paper)  CD {cd:.4f}  F {f:6.2f}  "
                  f"[gt prep {1000 * prep:.1f} ms/object]")


if __name__ == "__main__":
    main_world(sys.argv[1]) if len(sys.argv) > 1 else main()
