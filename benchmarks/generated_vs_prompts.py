"""Picture of prompts beside the objects a generator makes from them (for the README).

    .venv/bin/python benchmarks/generated_vs_prompts.py --world runs/world \
        --out docs/images/generated_vs_prompts.png

One eval prompt per training family plus in-the-wild prompts; each tile shows the prompt image,
two generated samples (different seeds) rendered with `dso.render.render_mesh`, and the
oracle's verdict under each sample (green: stands; red: falls, with the final tilt, or is in
N pieces).
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageDraw

TILE = 96
GREEN, RED, GREY = (60, 200, 90), (230, 70, 60), (200, 200, 200)


def _prompts(world, wild: int) -> list[tuple[str, np.ndarray]]:
    chosen, seen = [], set()
    for obj in world.objects("eval"):
        if obj.family not in seen:
            seen.add(obj.family)
            chosen.append((obj.family, obj.images()[0]))
    by_family: dict[str, list] = {}
    for obj in world.objects("wild"):
        by_family.setdefault(obj.family, []).append(obj)
    for family, objs in by_family.items():
        for obj in objs[:wild]:
            chosen.append((f"{family} (wild)", obj.images()[0]))
    return chosen


def _tile(img: np.ndarray) -> Image.Image:
    return Image.fromarray(img).resize((TILE, TILE), Image.LANCZOS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--generator", default="dso-tiny")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--wild", type=int, default=1, help="prompts per in-the-wild family")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--columns", type=int, default=4)
    args = parser.parse_args()

    from dso.models import get_generator
    from dso.physics import check_mesh
    from dso.render import render_mesh
    from dso.world import World

    gen = get_generator(args.generator, weights=args.weights)
    prompts = _prompts(World.open(args.world), args.wild)
    samples = gen.generate([img for _, img in prompts], n=2, seed=args.seed)
    cell_w, cell_h = 3 * TILE + 12, TILE + 34
    rows = -(-len(prompts) // args.columns)
    sheet = Image.new("RGB", (args.columns * cell_w, rows * cell_h), (0, 0, 0))
    draw = ImageDraw.Draw(sheet)
    for k, (label, img) in enumerate(prompts):
        x0, y0 = (k % args.columns) * cell_w, (k // args.columns) * cell_h
        draw.text((x0 + 4, y0 + 2), label, fill=GREY)
        sheet.paste(_tile(img), (x0, y0 + 16))
        for j in range(2):
            s = samples[2 * k + j]
            xs = x0 + (j + 1) * TILE + 4
            if s.mesh is None:
                draw.text((xs + 20, y0 + 60), "no output", fill=RED)
                continue
            sheet.paste(_tile(render_mesh(s.mesh, size=TILE)), (xs, y0 + 16))
            res = check_mesh(s.mesh)
            ok = res.status == "ok" and res.stable
            verdict = ("stands" if ok else f"{res.pieces} pieces" if res.reason == "pieces"
                       else f"falls {res.tilt_deg:.0f} deg")
            draw.text((xs + 4, y0 + 16 + TILE + 2), verdict, fill=GREEN if ok else RED)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({len(prompts)} prompts x 2 samples)")


if __name__ == "__main__":
    main()
