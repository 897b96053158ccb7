"""`run_demo`: every stage of DSO on the built-in model and world, resumable stage by stage.

Stages (each skips what a previous run of the same folder already finished):
world -> dataset (generate + label) -> fine-tune DRO, DPO, SFT -> evaluate base and the three
adapters on the eval and in-the-wild splits -> results.json, report.md and figures.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dso.demo.config import COMPARED, MODELS, SPLITS, DemoConfig
from dso.demo.report import write_outputs
from dso.errors import refuse_foreign_folder

TIMINGS_FILE = "timings.json"


def _stage(log: Callable[[str], None], name: str, timings: dict[str, float], out: Path):
    """Context manager that logs a stage and adds its wall time to `timings`, which is saved
    to OUT/timings.json after every stage: a rerun that finds a stage done adds ~0 s, so the
    figures stay those of the run that did the work, across kills and reruns."""

    class _Timer:
        def __enter__(self):
            log(f"== {name}")
            self.start = time.perf_counter()

        def __exit__(self, *exc):
            spent = time.perf_counter() - self.start
            timings[name] = round(timings.get(name, 0.0) + spent, 1)
            from dso.data.files import atomic_write_bytes

            atomic_write_bytes(out / TIMINGS_FILE, json.dumps(timings, indent=1).encode())
            if exc[0] is None:
                log(f"   {name}: {spent:.1f} s")

    return _Timer()


def _saved_timings(out: Path) -> dict[str, float]:
    """Stage times of earlier runs into `out` (empty when there are none or the file is bad)."""
    try:
        saved = json.loads((out / TIMINGS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(saved, dict):
        return {}
    return {k: float(v) for k, v in saved.items() if k != "total"}


def _world(out: Path, cfg: DemoConfig, progress: bool):
    from dso.world import World, build_world

    path = out / "world"
    if (path / "world.json").exists():
        with warnings.catch_warnings():  # a world stopped mid-build: finished below, not used
            warnings.simplefilter("ignore")
            world = World.open(path)
        if world.meta.get("complete") and len(world.objects("train")) >= cfg.world_train:
            return world  # a world stopped mid-build is finished below (it resumes)
    return build_world(path, n_train=cfg.world_train, seed=cfg.seed, n_eval=cfg.world_eval,
                       eval_views=cfg.eval_views, wild_per_family=cfg.wild_per_family,
                       n_synthetic=0, n_val=0, workers=cfg.workers, progress=progress)


def _dataset(out: Path, cfg: DemoConfig, progress: bool) -> dict[str, Any]:
    from dso.data import generate_dataset, label_dataset
    from dso.data.prompts import prompts_from_world
    from dso.data.stats import dataset_stats
    from dso.data.store import SampleStore
    path = out / "dataset"
    prompts = prompts_from_world(out / "world", "train", views=cfg.prompt_views,
                                 limit=cfg.prompt_objects or cfg.world_train)
    generate_dataset(path, cfg.generator(), prompts, n=cfg.samples_per_prompt, seed=cfg.seed,
                     progress=progress)
    label_dataset(path, workers=cfg.workers, progress=progress)
    with SampleStore.open(path) as store:
        return dataset_stats(store)


def _train(out: Path, objective: str, cfg: DemoConfig, progress: bool) -> Path:
    from dso.train import train
    from dso.train.lora import ADAPTER_FILE

    run = out / "runs" / objective
    if (run / ADAPTER_FILE).is_file():  # the final adapter, written last and atomically: done
        return run  # (a checkpoint's adapter is not: the run was killed before its last step)
    config = cfg.train_config(objective, out / "dataset", run)
    # whatever a killed run left resumes: from its last checkpoint, or from step 0 when it was
    # killed after writing its config and log but before its first checkpoint
    train(config, resume=run.exists(), progress=progress)
    return run


def _evaluate(out: Path, model: str, run: Path | None, split: str, cfg: DemoConfig,
              progress: bool) -> dict[str, Any]:
    from dso.eval import evaluate
    from dso.eval.report import save_json
    path = out / "eval" / f"{model}_{split}.json"
    if path.exists():
        return json.loads(path.read_text())
    result = evaluate(cfg.generator(run), out / "world", split, seed=cfg.seed, limit=cfg.eval_limit,
                      workers=cfg.workers, n_points=cfg.n_points, protocol=cfg.eval_protocol,
                      progress=progress)
    save_json(result, path)
    return result


class DemoError(ValueError):
    """The output folder holds a demo that this run cannot resume."""


def _record(out: Path, cfg: DemoConfig) -> None:
    """Write the run's settings, or refuse a folder made with other settings or oracle."""
    from dso.physics import ORACLE_VERSION

    path = out / "demo_config.json"
    want = {**cfg.to_dict(), "oracle_version": ORACLE_VERSION}
    refuse_foreign_folder(out, "demo", (path.name,), error=DemoError)
    if path.exists():
        got = json.loads(path.read_text())
        diff = sorted(k for k in set(got) | set(want)
                      if got.get(k) != want.get(k) and k != "workers")  # workers: speed only
        if diff:
            raise DemoError(f"{out} holds a demo made with other settings ({', '.join(diff)}: "
                            f"{[got.get(k) for k in diff]} there, {[want.get(k) for k in diff]} "
                            "now); rerun with another --out, or delete the folder")
    path.write_text(json.dumps(want, indent=1))


def run_demo(out: str | Path, config: DemoConfig | None = None, *, progress: bool = True,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the whole demo into `out`; returns {model: {split: evaluation result}}.

    Rerunning into the same folder resumes; a folder made with other settings or by another
    oracle version raises DemoError (its labels and numbers would not match).
    """
    cfg = config or DemoConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _record(out, cfg)
    timings = _saved_timings(out)
    with _stage(log, "world", timings, out):
        _world(out, cfg, progress)
    with _stage(log, "dataset", timings, out):
        stats = _dataset(out, cfg, progress)
    runs: dict[str, Path | None] = {"base": None}
    for objective in COMPARED:
        with _stage(log, f"train {objective}", timings, out):
            runs[objective] = _train(out, objective, cfg, progress)
    results: dict[str, dict[str, Any]] = {m: {} for m in MODELS}
    for model in MODELS:
        for split in SPLITS:
            with _stage(log, f"eval {model} {split}", timings, out):
                results[model][split] = _evaluate(out, model, runs[model], split, cfg, progress)
    timings["total"] = round(sum(timings.values()), 1)  # the stages' work, across reruns
    write_outputs(out, results, runs, stats, timings, cfg, log=log)
    return results
