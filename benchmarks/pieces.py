"""How many "stable" samples are really one object? Labels without and with the pieces rule.

    .venv/bin/python benchmarks/pieces.py --dataset demo_out/dataset   # the demo's 7680 samples
    .venv/bin/python benchmarks/pieces.py                              # builds that set itself

Every mesh of a dso-tiny dataset is checked twice, side by side: by `accurate` without its
pieces rule (oracle 1.0: the whole mesh glued into one body by its hull) and with it (oracle
2.0). Per family it prints the share of samples labelled stable that are multi-piece (two or
more significant pieces, surfaces 1% of the object's size apart or more) before and after
(after: 0 by construction), and % stable under both rules. Without --dataset it builds the
demo's world and dataset (its default size: 320 training objects x 6 views x 4 samples, seed 0)
under --out. `--figure PNG` draws multi-piece samples of each family, one colour per shell.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

from dso.physics import OracleConfig, check_many

OLD = OracleConfig.from_preset("accurate", pieces=False)
NEW = OracleConfig.from_preset("accurate")


def build_dataset(out: Path, seed: int = 0) -> Path:
    """The demo's world and dataset at its default size (resumable)."""
    from dso.data import generate_dataset
    from dso.data.prompts import prompts_from_world
    from dso.demo.config import DemoConfig
    from dso.world import World, build_world

    cfg = DemoConfig(seed=seed)
    world = out / "world"
    built = (world / "world.json").exists()
    if not built or len(World.open(world).objects("train")) < cfg.world_train:
        build_world(world, n_train=cfg.world_train, seed=seed, n_eval=cfg.world_eval,
                    eval_views=cfg.eval_views, wild_per_family=cfg.wild_per_family,
                    n_synthetic=0, n_val=0)
    prompts = prompts_from_world(world, "train", views=cfg.prompt_views, limit=cfg.world_train)
    generate_dataset(out / "dataset", cfg.generator(), prompts, n=cfg.samples_per_prompt,
                     seed=seed)
    return out / "dataset"


COLOURS = [(0.9, 0.6, 0.3), (0.3, 0.6, 0.9), (0.4, 0.9, 0.4), (0.9, 0.3, 0.8), (0.9, 0.9, 0.3)]


def draw_multi_piece(paths_by_family: dict[str, list[str]], out: Path, per_row: int = 6) -> None:
    """One row per family of multi-piece samples, each shell in its own colour."""
    import numpy as np
    import trimesh
    from PIL import Image, ImageDraw

    from dso.physics.loading import prepare
    from dso.physics.shells import shell_labels
    from dso.render.shade import render_mesh

    size, rows = 128, []
    for family, paths in sorted(paths_by_family.items()):
        tiles = []
        for path in paths[:per_row]:
            mesh = prepare(path)[0]
            _, labels, _ = shell_labels(np.asarray(mesh.faces), len(mesh.vertices))
            vertices = np.asarray(mesh.vertices) - [0.0, 0.0, 0.5]
            tile = np.zeros((size, size, 3), np.uint8)
            for k in range(labels.max() + 1):  # shells drawn one by one, brightest wins
                shell = trimesh.Trimesh(vertices, np.asarray(mesh.faces)[labels == k])
                tile = np.maximum(tile, render_mesh(shell, size=size, elevation_deg=15,
                                                    color=COLOURS[k % len(COLOURS)]))
            tiles.append(tile)
        tiles += [np.zeros((size, size, 3), np.uint8)] * (per_row - len(tiles))
        row = Image.fromarray(np.concatenate(tiles, axis=1))
        ImageDraw.Draw(row).text((4, 4), family, fill=(255, 255, 255))
        rows.append(np.asarray(row))
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(out)
    print(f"\nwrote {out} (rows: {', '.join(sorted(paths_by_family))})")


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:5.1f}%" if whole else "    -"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, help="a dataset written by `dso generate`")
    parser.add_argument("--out", type=Path, default=Path("runs/pieces_bench"),
                        help="where to build the demo's dataset when --dataset is not given")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--figure", type=Path, help="PNG of multi-piece samples per family")
    args = parser.parse_args()
    from dso.data.store import SampleStore

    ds = args.dataset or build_dataset(args.out)
    with SampleStore.open(ds) as store:
        records = [r for r in store.records() if r["status"] == "ok" and r["mesh_path"]]
    paths = [str(Path(ds) / r["mesh_path"]) for r in records]
    start = time.perf_counter()
    old = check_many(paths, config=OLD, workers=args.workers, progress=False)
    new = check_many(paths, config=NEW, workers=args.workers, progress=False)
    seconds = time.perf_counter() - start
    rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    multi_paths: dict[str, list[str]] = defaultdict(list)
    for rec, path, a, b in zip(records, paths, old, new, strict=True):
        if a.status != "ok" or b.status != "ok":
            rows[rec["family"]]["errors"] += 1
            continue
        for key in (rec["family"], "total"):
            r = rows[key]
            r["n"] += 1
            r["multi"] += b.pieces > 1
            r["old_stable"] += bool(a.stable)
            r["old_stable_multi"] += bool(a.stable) and b.pieces > 1
            r["new_stable"] += bool(b.stable)
            r["new_stable_multi"] += bool(b.stable) and b.pieces > 1
            r["debris"] += b.debris_pieces > 0
        if b.pieces > 1:
            multi_paths[rec["family"]].append(path)
    print(f"{ds}: {len(records)} meshes, each checked without and with the pieces rule "
          f"({seconds:.0f} s)\n")
    print("| family | samples | multi-piece | % stable, whole mesh (1.0) | of those, multi-piece "
          "| % stable, pieces (2.0) | of those, multi-piece | with debris dropped |")
    print("|---|---|---|---|---|---|---|---|")
    for name in sorted(k for k in rows if k != "total") + ["total"]:
        r = rows[name]
        print(f"| {name} | {r['n']} | {_pct(r['multi'], r['n'])} | "
              f"{_pct(r['old_stable'], r['n'])} | {_pct(r['old_stable_multi'], r['old_stable'])} | "
              f"{_pct(r['new_stable'], r['n'])} | {_pct(r['new_stable_multi'], r['new_stable'])} "
              f"| {_pct(r['debris'], r['n'])} |")
    errors = sum(r["errors"] for r in rows.values())
    if errors:
        print(f"\n{errors} meshes could not be checked")
    if args.figure:
        draw_multi_piece(multi_paths, args.figure)


if __name__ == "__main__":
    main()
