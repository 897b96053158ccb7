"""Why does fine-tuning on the model's own samples lose shape, and what keeps it? A study.

    .venv/bin/python benchmarks/shape_study.py --out runs/shape_study           # ~30 min, 2 cores
    .venv/bin/python benchmarks/shape_study.py --out runs/shape_study --quick   # smoke, minutes
    .venv/bin/python benchmarks/shape_study.py --out runs/shape_study --curves-only  # ~10 min

Every row fine-tunes the shipped dso-tiny with LoRA on a dataset of its own labelled samples
(the demo's by default: 160 training objects x 2 views x 4 samples, guidance 7.5) and is scored
on the world's validation split (`val`: 120 held-out training-family objects x 2 views), never
on `eval`: the settings the demo keeps are chosen here. Rows change one thing at a time from
the demo's recipe: guidance when building the dataset vs when evaluating, condition dropout,
learning rate, warm-up and epochs, LoRA rank and targets, pairing and the pair's noise, dataset
size. Then the chosen DRO and DPO recipes are trained long with a held-out evaluation every
few steps (the guardrail's, on `val`) for the curves of the paper's Fig. 6.

Finished rows are cached under OUT/rows/, so a rerun resumes. Writes OUT/study.md (the table,
95% bootstrap intervals over objects in brackets, paired difference to base), OUT/study.json,
OUT/curves.json, OUT/fig6.png and OUT/curves_gallery.png (base and the long runs' last
adapters on 10 val prompts).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from dso.demo.config import DemoConfig
from dso.train import TrainConfig
from dso.world import World
from shape_study_report import plot_fig6, table

SIZES = (120, 240, 480, 960, 1920)  # prompts (x 4 samples) in the dataset-size rows, the first
BIG = (320, 6)                       # N of one dataset of 320 training objects x 6 views
VAL_OBJECTS = 120


@dataclasses.dataclass(frozen=True)
class Row:
    """One configuration: what it asks, its dataset, its training changes, its evaluation."""

    name: str
    question: str
    objects: int = 160  # training objects in the dataset
    views: int = 2  # views of each object used as prompts
    data_guidance: float = 7.5  # guidance the dataset was sampled at
    train: dict[str, Any] | None = None  # TrainConfig changes from the demo's; None: no training
    eval_guidance: float = 7.5


DEMO = {"objective": "dro"}  # the demo's recipe: DemoConfig's DRO settings


def rows() -> list[Row]:
    """The study's rows, one change at a time from the demo's DRO recipe."""
    g = "guidance (build vs evaluate)"
    out = [Row("base", "reference"), Row("base @3", g, eval_guidance=3.0),
           Row("DRO demo recipe", "reference", train=DEMO),
           Row("DRO, eval @3", g, train=DEMO, eval_guidance=3.0),
           Row("DRO, data @3, eval @3", g, data_guidance=3.0, train=DEMO, eval_guidance=3.0),
           Row("DRO, data @3, eval @7.5", g, data_guidance=3.0, train=DEMO),
           Row("DRO, cond dropout 0.1", g, train={**DEMO, "cond_dropout": 0.1})]
    lr = "learning rate, warm-up, epochs"
    out += [Row(f"DRO, lr {v:g}", lr, train={**DEMO, "lr": v}) for v in (1e-4, 5e-5)]
    out += [Row("DRO, warm-up 50", lr, train={**DEMO, "warmup": 50}),
            Row("DRO, 75 steps (~1 epoch)", lr, train={**DEMO, "steps": 75}),
            Row("DRO, 300 steps (~4 epochs)", lr, train={**DEMO, "steps": 300})]
    lora = "LoRA rank and targets"
    out += [Row(f"DRO, rank {r}", lora, train={**DEMO, "lora_rank": r, "lora_alpha": 2.0 * r})
            for r in (4, 64)]
    out += [Row("DRO, cross-attention only", lora,
                train={**DEMO, "lora_targets": ("to_q", "to_kv")}),
            Row("DRO, self-attention only", lora, train={**DEMO, "lora_targets": ("to_qkv",)})]
    pair = "pairing and noise"
    out += [Row("DRO, unpaired", pair, train={**DEMO, "paired_dro": False}),
            Row("DRO, pairs with independent noise", pair,
                train={**DEMO, "pair_noise": "independent"}),
            Row("DRO, condition from another view", pair, train={**DEMO, "other_view": True}),
            Row("DRO, no ascent bound", pair, train={**DEMO, "ascent_bound": None})]
    obj = "objective"
    out += [Row("DPO demo recipe", obj, train={"objective": "dpo"}),
            Row("SFT demo recipe", obj, train={"objective": "sft"})]
    gentle = "a gentler ascent"
    out += [Row(f"DRO, ascent weight {w:g}", gentle, train={**DEMO, "ascent_weight": w})
            for w in (0.25, 0.0)]
    out += [Row(f"DRO, ascent within {m:g} of base", gentle,
                train={**DEMO, "ascent_margin": m, "ascent_bound": None}) for m in (0.02, 0.1)]
    fit = "fit the guided velocity (the sampler's)"
    out += [Row(f"{name}, guided loss", fit, train={"objective": name.lower(),
                                                    "guided_loss": True})
            for name in ("SFT", "DRO", "DPO")]
    small = "smaller steps"
    out += [Row(f"{name}, lr 2e-05", small, train={"objective": name.lower(), "lr": 2e-5})
            for name in ("SFT", "DRO", "DPO")]
    out += [Row("DRO, lr 2e-05, 450 steps", small, train={**DEMO, "lr": 2e-5, "steps": 450})]
    out += [Row(f"{name}, lr 2e-05, {BIG[0]} objects x {BIG[1]} views", small, objects=BIG[0],
                views=BIG[1], train={"objective": name.lower(), "lr": 2e-5})
            for name in ("DRO", "SFT")]
    out += [Row("DRO, lr 5e-05, self-attention only", small,
                train={**DEMO, "lr": 5e-5, "lora_targets": ("to_qkv",)})]
    g3 = "guidance 3 with smaller steps (compare with base @3)"
    for size, (objects, views) in (("", (160, 2)), (f", {BIG[0]} objects x {BIG[1]} views", BIG)):
        out += [Row(f"{name}, data @3, eval @3{suffix}{size}", g3, objects=objects, views=views,
                    data_guidance=3.0, eval_guidance=3.0,
                    train={"objective": name.lower(), **change})
                for name, change, suffix in (("DRO", {"lr": 2e-5}, ", lr 2e-05"),
                                             ("SFT", {"lr": 2e-5}, ", lr 2e-05"),
                                             ("DPO", {}, ""))]
    return out


def size_rows(recipes: dict[str, dict[str, Any]]) -> list[Row]:
    """Recipes over dataset sizes (Fig. 6 right): the first N prompts of one large dataset."""
    objects, views = BIG
    return [Row(f"{label}, {4 * n} samples", "dataset size", objects=objects, views=views,
                train={**recipe, "max_prompts": n})
            for label, recipe in recipes.items() for n in SIZES]


# The demo's recipe when the study began (DemoConfig of 2026-11-21: lr 2e-4 for every
# objective), pinned so that rows keep their meaning after the demo adopted what the study found.
RECIPE = DemoConfig(lr=2e-4, dpo_lr=2e-4)


def _demo_train_config(ds: Path, run: Path, changes: dict[str, Any]) -> TrainConfig:
    base = RECIPE.train_config(changes.get("objective", "dro"), ds, run)
    return dataclasses.replace(base, save_every=10_000,
                               **{k: v for k, v in changes.items() if k != "objective"})


class Study:
    """The world, the datasets and the cached rows of one study folder."""

    def __init__(self, out: Path, quick: bool, workers: int | None) -> None:
        self.out, self.quick, self.workers = out, quick, workers
        self.val_objects = 16 if quick else VAL_OBJECTS
        self.n_points = 1000 if quick else 2000

    def world(self) -> Path:
        from dso.world import World, build_world

        cfg, path = DemoConfig(), self.out / "world"
        n_train = BIG[0] if not self.quick else 40
        if (path / "world.json").exists():
            world = World.open(path)
            if len(world.objects("train")) >= n_train and len(world.objects("val")):
                return path
        build_world(path, n_train=n_train, seed=cfg.seed, n_eval=cfg.world_eval,
                    eval_views=cfg.eval_views, wild_per_family=cfg.wild_per_family,
                    n_synthetic=0, n_val=self.val_objects, workers=self.workers)
        return path

    def generator(self, run: Path | None = None, guidance: float = 7.5):
        return dataclasses.replace(DemoConfig(), guidance=guidance).generator(run)

    def dataset(self, objects: int, guidance: float, views: int = 2) -> Path:
        from dso.data import generate_dataset, label_dataset
        from dso.data.prompts import prompts_from_world

        objects = min(objects, 40) if self.quick else objects
        path = self.out / "datasets" / (f"g{guidance:g}-{objects}" +
                                         (f"x{views}" if views != 2 else ""))
        prompts = prompts_from_world(self.world(), "train", views=views, limit=objects)
        generate_dataset(path, self.generator(guidance=guidance), prompts, n=4, seed=0,
                         progress=False)
        label_dataset(path, workers=self.workers, progress=False)
        return path

    def run(self, row: Row) -> dict[str, Any]:
        """Train (if the row trains) and evaluate on val; cached in OUT/rows/NAME.json."""
        from dso.eval import evaluate
        from dso.eval.report import save_json
        from dso.train import train

        cache = self.out / "rows" / f"{_slug(row.name)}-{_digest(dataclasses.asdict(row))}.json"
        if cache.exists():
            return json.loads(cache.read_text())
        ds = (self.dataset(row.objects, row.data_guidance, row.views)
              if row.train is not None else None)
        started, run = time.perf_counter(), None
        if ds is not None:  # rows that train alike share one run
            key = [row.objects, row.data_guidance, row.train] + ([row.views] if row.views != 2
                                                                 else [])
            run = self.out / "runs" / _digest(key)
            cfg = _demo_train_config(ds, run, row.train)
            if self.quick:
                cfg = dataclasses.replace(cfg, steps=max(5, cfg.steps // 15))
            if not (run / "adapter.safetensors").exists():
                train(cfg, progress=False)
        trained = time.perf_counter() - started
        result = evaluate(self.generator(run, row.eval_guidance), self.world(), "val", seed=0,
                          workers=self.workers, n_points=self.n_points, progress=False)
        record = {"row": dataclasses.asdict(row), "overall": result["overall"],
                  "families": result["families"], "items": result["items"],
                  "train_seconds": round(trained, 1),
                  "eval_seconds": round(time.perf_counter() - started - trained, 1)}
        save_json(record, cache)
        print(f"  {row.name}: stable {record['overall']['stable_pct']:.1f}%, "
              f"F {record['overall']['fscore']:.2f}, CD {record['overall']['cd']:.4f}",
              flush=True)
        return record

    def curve_run(self, name: str, changes: dict[str, Any], steps: int, every: int,
                  big: bool = False) -> Path:
        """The folder of one curve run."""
        return self.out / "curves" / f"{name}-{_digest([changes, steps, every, big])}"

    def curve(self, name: str, changes: dict[str, Any], steps: int, every: int,
              big: bool = False) -> list[dict]:
        """A long run with the guardrail's held-out evaluation on val every `every` steps."""
        from dso.eval import make_eval_fn
        from dso.train import train
        from dso.train.logging import read_log

        run = self.curve_run(name, changes, steps, every, big)
        if self.quick:
            steps, every = 20, 10
        if not (run / "adapter.safetensors").exists():
            ds = self.dataset(BIG[0], 7.5, BIG[1]) if big else self.dataset(160, 7.5)
            cfg = dataclasses.replace(_demo_train_config(ds, run, changes), steps=steps,
                                      eval_every=every)
            eval_fn = make_eval_fn(self.world(), "val", limit=None, workers=self.workers,
                                   n_points=self.n_points, bootstrap=0)
            train(cfg, eval_fn=eval_fn, progress=False)
        return read_log(run, "eval.jsonl")


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def _digest(obj: Any) -> str:
    import hashlib

    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:8]


def _curves(study: Study, recipes: dict[str, dict[str, Any]],
            args: argparse.Namespace) -> dict[str, list[dict]]:
    """The long curve runs (OUT/curves.json) and what their last adapters make beside base on
    10 val prompts (OUT/curves_gallery.png: where a flat plate or broken parts would show)."""
    from dso.eval.gallery import compare_gallery

    curves = {name: study.curve(name.lower(), recipe, args.curve_steps, args.curve_every,
                                big=args.curves_on_big)
              for name, recipe in recipes.items()}
    (args.out / "curves.json").write_text(json.dumps(curves, indent=1))
    generators = {"base": study.generator()}
    generators.update({f"{name} step {curves[name][-1]['step']}": study.generator(
        study.curve_run(name.lower(), recipe, args.curve_steps, args.curve_every,
                        args.curves_on_big))
        for name, recipe in recipes.items()})
    compare_gallery(generators, World.open(study.world()), "val",
                    args.out / "curves_gallery.png", n_prompts=10)
    return curves


def _curve_lines(curves: dict[str, list[dict]]) -> list[str]:
    """One line per curve: % stable and F at each held-out evaluation."""
    return [f"- {name}: " + ", ".join(
        f"step {r['step']}: {r.get('stable_pct', float('nan')):.1f}% / F "
        f"{r.get('fscore', float('nan')):.1f}" + (" (warned)" if r.get("geometry_warnings")
                                                    else "") for r in recs)
        for name, recs in curves.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/shape_study"))
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--workers", type=int, default=None, help="oracle workers")
    parser.add_argument("--dro", default="{}", help="JSON TrainConfig changes of the chosen DRO "
                        "recipe for the curves (chosen from the first table)")
    parser.add_argument("--dpo", default="{}", help="the same for DPO")
    parser.add_argument("--rows-only", action="store_true",
                        help="only the one-change rows (look at them, then pick --dro/--dpo)")
    parser.add_argument("--no-curves", action="store_true", help="skip the long curve runs")
    parser.add_argument("--curves-only", action="store_true",
                        help="only the long curve runs and their gallery (curves.json, "
                        "curves_gallery.png); the table and Fig. 6 are left as they are")
    parser.add_argument("--curves-on-big", action="store_true",
                        help="train the curve runs on the large dataset (BIG)")
    parser.add_argument("--curve-steps", type=int, default=600)
    parser.add_argument("--curve-every", type=int, default=75)
    args = parser.parse_args()
    study = Study(args.out, args.quick, args.workers)
    start = time.perf_counter()
    dro = {**DEMO, **json.loads(args.dro)}
    dpo = {"objective": "dpo", **json.loads(args.dpo)}
    recipes = {"DRO": dro, "DPO": dpo}  # of the long curve runs
    if args.curves_only:
        curves = _curves(study, recipes, args)
        print("\n".join(_curve_lines(curves)))
        print(f"\n(total {time.perf_counter() - start:.0f} s; wrote {args.out}/curves.json, "
              "curves_gallery.png)")
        return
    records = [study.run(row) for row in rows()]
    sizes, curves = [], {}
    if not args.rows_only:
        sizes = [study.run(row) for row in size_rows(  # the recipe the study started from
            {"DRO": DEMO, "SFT": {"objective": "sft"}, "DPO": {"objective": "dpo"}})]
    if not args.rows_only and not args.no_curves:
        curves = _curves(study, recipes, args)
    base = records[0]
    text = [f"# Shape study (`benchmarks/shape_study.py`, validation split, "
            f"{base['overall']['n_prompts']} images)", "",
            f"Chosen DRO recipe: `{dro}`; DPO: `{dpo}`.", "", table(records + sizes, base), "",
            "Brackets: 95% bootstrap intervals over objects (both views of a drawn object go "
            "with it); Δ: paired difference to base on "
            "the same prompts and seeds, **bold** where its interval excludes 0; a trained row "
            "evaluated at guidance 3 is compared with base at guidance 3 (`base @3`).", "",
            "## Curves (held-out evaluation on val during training)", ""] + _curve_lines(curves)
    (args.out / "study.md").write_text("\n".join(text) + "\n")
    (args.out / "study.json").write_text(json.dumps(
        [{"row": r["row"], "overall": r["overall"], "train_seconds": r["train_seconds"]}
         for r in records + sizes], indent=1))
    if sizes:
        plot_fig6(curves, sizes, args.out / "fig6.png", records[0])
    print("\n".join(text))
    print(f"\n(total {time.perf_counter() - start:.0f} s; wrote {args.out}/study.md, fig6.png)")


if __name__ == "__main__":
    main()
