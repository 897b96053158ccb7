"""Best-of-N with the oracle at test time: the baseline DSO's zero extra cost is weighed against.

    .venv/bin/python benchmarks/best_of_n.py --world demo_out/world            # eval split
    .venv/bin/python benchmarks/best_of_n.py --world demo_out/world --split wild
    .venv/bin/python benchmarks/best_of_n.py --world demo_out/world --guidance 3  # the demo's

The base dso-tiny draws 8 samples per prompt image (seeds as in `dso eval`: sample j of image i
has seed i*8 + j), the oracle checks each, and best-of-N keeps the first stable one among the
first N (the first sample when none is stable). N = 1 is the plain model. Reports % stable,
% one piece, F-score and Chamfer distance of the kept samples (the paper's ICP protocol), with
95% bootstrap intervals over objects, and the cost per object: N generations plus the oracle
on each, measured here.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

NS = (1, 2, 4, 8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, required=True)
    parser.add_argument("--split", default="eval")
    parser.add_argument("--limit", type=int, default=None, help="prompt images (default all)")
    parser.add_argument("--points", type=int, default=2000, help="surface points per mesh")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--adapter", type=Path, default=None, help="a run folder (LoRA)")
    parser.add_argument("--guidance", type=float, default=None,
                        help="sampler guidance (default: dso-tiny's own, 7.5; the demo's: 3)")
    args = parser.parse_args()
    from dso.eval import evaluate
    from dso.eval.intervals import bootstrap_intervals
    from dso.eval.summary import summarize
    from dso.models import get_generator
    from dso.train import load_adapter

    generator = get_generator("dso-tiny", guidance=args.guidance)
    if args.adapter:
        load_adapter(generator, args.adapter)
    n_max = max(NS)
    result = evaluate(generator, args.world, args.split, samples_per_image=n_max,
                      limit=args.limit, workers=args.workers, n_points=args.points,
                      bootstrap=0, progress=True)
    timings = result["meta"]["timings"]
    per_sample = (timings["generate_s"] + timings["oracle_s"]) / len(result["items"])
    by_prompt: dict[tuple, list[dict]] = {}
    for row in result["items"]:
        by_prompt.setdefault((row["object_id"], row["view"]), []).append(row)
    print(f"\n{len(by_prompt)} prompt images of {args.split}, {n_max} samples each at guidance "
          f"{generator.sampler.guidance:g}; generation + oracle {1e3 * per_sample:.0f} ms per "
          f"sample on this machine\n")
    print("| N | % stable | % one piece | F-score | CD | cost per object (s) |")
    print("|---|---|---|---|---|---|")
    for n in NS:
        kept = []
        for rows in by_prompt.values():
            first = sorted(rows, key=lambda r: r["sample"])[:n]
            kept.append(next((r for r in first if r["stable"]), first[0]))
        numbers, ci = summarize(kept), bootstrap_intervals(kept)

        def cell(metric: str, fmt: str, numbers=numbers, ci=ci) -> str:
            value, band = numbers.get(metric), ci.get(metric)
            if value is None:
                return "-"
            return fmt.format(value) + ("" if not band else
                                        f" [{fmt.format(band[0])}, {fmt.format(band[1])}]")

        print(f"| {n} | {cell('stable_pct', '{:.1f}')} | {cell('one_piece_pct', '{:.1f}')} | "
              f"{cell('fscore', '{:.1f}')} | {cell('cd', '{:.4f}')} | {n * per_sample:.3f} |")
    print(f"\n(total {timings['total_s']:.0f} s, {time.strftime('%Y-%m-%d')})")


if __name__ == "__main__":
    main()
