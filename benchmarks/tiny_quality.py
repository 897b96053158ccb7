"""How good and how stable is a generator on a world's eval and in-the-wild prompts?

    .venv/bin/python benchmarks/tiny_quality.py --world runs/world [--weights DIR] [--views 2]

For each prompt image: one sample (12 steps with guidance by default); % output (a mesh came
out), % stable among outputs (`dso.physics.check_mesh`, accurate preset), and for the eval split
(which has ground truth) Chamfer distance and F-score@0.05 (`dso.eval.chamfer_fscore`: unit-cube
normalisation + ICP) and voxel IoU against the ground-truth grid. The same numbers for the
ground-truth meshes themselves are printed as a reference. Prints the numbers as JSON, then as
the README's dso-tiny table. A quick check, not the official evaluation (`dso eval`).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def _score(gen, objects, views: int, geometry: bool, seed: int, points: int) -> dict:
    from dso.eval import chamfer_fscore, prepare_target
    from dso.physics import check_mesh

    images, owners = [], []
    for k, obj in enumerate(objects):
        for img in obj.images()[:views]:
            images.append(img)
            owners.append(k)
    start = time.perf_counter()
    samples = gen.generate(images, n=1, seed=seed, progress=True)
    gen_s = time.perf_counter() - start
    stable, tilts, cds, fss, ious = [], [], [], [], []
    targets = {}
    for s in samples:
        obj = objects[owners[s.prompt_index]]
        if geometry:
            gt_grid = obj.grid()
            union = (s.occupancy | gt_grid).sum()
            ious.append(float((s.occupancy & gt_grid).sum() / union) if union else 0.0)
        if s.mesh is None:
            continue
        res = check_mesh(s.mesh)
        if res.status == "ok":
            stable.append(bool(res.stable))
            tilts.append(float(res.tilt_deg))
        if geometry:
            if obj.id not in targets:
                targets[obj.id] = prepare_target(obj.mesh(), n_points=points)
            cd, fs = chamfer_fscore(s.mesh, targets[obj.id], n_points=points)
            cds.append(cd)
            fss.append(fs)
    out = {
        "prompts": len(samples),
        "objects_per_s": len(samples) / gen_s,
        "output_pct": 100 * sum(s.mesh is not None for s in samples) / len(samples),
        "stable_pct": 100 * float(np.mean(stable)) if stable else float("nan"),
        "mean_tilt_deg": float(np.mean(tilts)) if tilts else float("nan"),
    }
    if geometry:
        out.update(
            chamfer=float(np.mean(cds)), fscore=float(np.mean(fss)), voxel_iou=float(np.mean(ious))
        )
    return out


def _vae_iou(gen, objects) -> float:
    """Mean voxel IoU of the VAE's reconstruction (encode -> decode) of ground-truth grids."""
    grids = np.stack([o.grid() for o in objects])
    recon = gen.decode(gen.encode(grids))
    inter = (recon & grids).reshape(len(grids), -1).sum(1)
    union = (recon | grids).reshape(len(grids), -1).sum(1)
    return float(np.mean(inter / np.maximum(union, 1)))


def _gt_reference(objects, points: int) -> dict:
    """Stability of the ground-truth meshes, and the score of their own voxelisation."""
    from dso.eval import chamfer_fscore
    from dso.geometry import grid_to_mesh
    from dso.physics import check_mesh

    stable, cds, fss = [], [], []
    for obj in objects:
        stable.append(bool(check_mesh(obj.mesh()).stable))
        cd, fs = chamfer_fscore(grid_to_mesh(obj.grid()), obj.mesh(), n_points=points)
        cds.append(cd)
        fss.append(fs)
    return {
        "gt_stable_pct": 100 * float(np.mean(stable)),
        "gt_grid_chamfer": float(np.mean(cds)),
        "gt_grid_fscore": float(np.mean(fss)),
    }


def table(result: dict, n_eval: int, views: int, n_wild: int) -> str:
    """The README's dso-tiny table: one row per split, then the ground truth's reference."""
    sampler = result["sampler"]
    ev, wild, gt = result["eval"], result["wild"], result["eval_ground_truth"]
    rows = [f"| {result['generator']}, {sampler['steps']} steps, guidance {sampler['guidance']} "
            "| output | stable | tilt | Chamfer | F@0.05 |", "|---|---|---|---|---|---|",
            f"| eval, {n_eval} objects x {views} views | {ev['output_pct']:.0f}% | "
            f"{ev['stable_pct']:.1f}% | {ev['mean_tilt_deg']:.1f}° | {ev['chamfer']:.4f} | "
            f"{ev['fscore']:.1f} |",
            f"| in the wild, {n_wild} images | {wild['output_pct']:.0f}% | "
            f"{wild['stable_pct']:.1f}% | {wild['mean_tilt_deg']:.1f}° | – | – |"]
    return "\n".join(rows) + (f"\n\nground truth: {gt['gt_stable_pct']:.1f}% stable; its own "
                              f"grid scores F {gt['gt_grid_fscore']:.2f}, CD "
                              f"{gt['gt_grid_chamfer']:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", required=True)
    parser.add_argument("--generator", default="dso-tiny")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--views", type=int, default=2, help="views per eval object")
    parser.add_argument("--points", type=int, default=5000, help="surface points per shape")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--guidance", type=float, default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from dso.models import get_generator
    from dso.world import World

    gen = get_generator(args.generator, weights=args.weights)
    if args.guidance is not None:
        from dataclasses import replace

        gen.sampler = replace(gen.sampler, guidance=args.guidance)
    world = World.open(args.world)
    result = {
        "generator": args.generator,
        "sampler": {"steps": gen.sampler.steps, "guidance": gen.sampler.guidance},
        "eval": _score(gen, world.objects("eval"), args.views, True, args.seed, args.points),
        "wild": _score(gen, world.objects("wild"), 1, False, args.seed, args.points),
        "eval_ground_truth": _gt_reference(world.objects("eval"), args.points),
        "eval_vae_recon_iou": _vae_iou(gen, world.objects("eval")),
    }
    print(json.dumps(result, indent=2))
    print()
    print(table(result, len(world.objects("eval")), args.views, len(world.objects("wild"))))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
