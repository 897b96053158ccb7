"""`evaluate`: % Output, % Stable, mean tilt, Chamfer and F-score of a generator on a world split.

Chunk by chunk of prompt images: generate, run the oracle over the outputs (`check_many` on
one kept worker pool), score geometry against each object's ground truth (sampled once per
object), keep the chunk's rows (in a file with `partial`, so a killed run resumes); then
aggregate per family and overall. A failure on one item (generation, oracle, geometry) is
recorded in that item's row and never stops the run.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from dso.eval.geometry_pass import score_geometry
from dso.eval.icp import DEFAULT_PROTOCOL, IcpSettings, icp_settings
from dso.eval.intervals import DEFAULT_RESAMPLES, UNIT, add_intervals
from dso.eval.summary import angle_of_preset, summarize_rows
from dso.interrupts import reraise_if_interrupted

__all__ = ["Prompt", "evaluate", "make_eval_fn", "select_prompts"]


@dataclass(frozen=True)
class Prompt:
    """One evaluation image: view `view` of world object `obj`."""

    obj: Any  # dso.world.WorldObject (id, family, split, mesh(), images())
    view: int
    image: np.ndarray


def select_prompts(objects: Iterable[Any], limit: int | None = None) -> list[Prompt]:
    """Every view of every object, view-major (view 0 of all objects, then view 1, ...), so a
    small `limit` still spreads over many objects (and over families, when the objects come
    in `dso.world.index.round_robin` order, as `evaluate` passes them)."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    per_object = [(obj, list(obj.images())) for obj in objects]
    n_views = max((len(images) for _, images in per_object), default=0)
    prompts = [
        Prompt(obj, view, images[view])
        for view in range(n_views)
        for obj, images in per_object
        if view < len(images)
    ]
    return prompts if limit is None else prompts[:limit]


def _generate_chunk(generator, images, n, seed, progress) -> list[tuple[Any, str | None]]:
    samples = generator.generate(images, n=n, seed=seed, progress=progress)
    ordered = sorted(samples, key=lambda s: (s.prompt_index, s.sample_index))
    if len(ordered) != len(images) * n:
        raise RuntimeError(f"generator returned {len(ordered)} samples for {len(images)} x {n}")
    return [(s, None) for s in ordered]


def _generate(generator, prompts: Sequence[Prompt], n: int, seed: int, chunk: int,
              progress: bool) -> list[tuple[Any, str | None]]:
    """(sample or None, error) per (prompt, sample), prompt-major. A chunk that raises is
    retried image by image so that one bad prompt costs only its own samples."""
    out: list[tuple[Any, str | None]] = []
    with tqdm(total=len(prompts), desc="generate", unit="img", disable=not progress) as bar:
        for start in range(0, len(prompts), chunk):
            images = [p.image for p in prompts[start:start + chunk]]
            # sample j of image i gets seed + i * n + j: pass the global offset of this chunk
            try:
                out += _generate_chunk(generator, images, n, seed + start * n, False)
            except Exception:
                reraise_if_interrupted()
                for i, image in enumerate(images):
                    try:
                        out += _generate_chunk(generator, [image], n, seed + (start + i) * n, False)
                    except Exception as err:  # one prompt's failure must not stop the run
                        reraise_if_interrupted()
                        out += [(None, f"generate: {type(err).__name__}: {err}")] * n
            bar.update(len(images))
    return out


def _oracle(meshes: list, preset: str, threshold: float, pool) -> list[dict]:
    """`check_many` over the outputs on the kept `pool`; each result as a dict (status,
    stable, tilt_deg...)."""
    if not meshes:
        return []
    from dso.physics import check_many

    results = check_many(meshes, pool=pool, preset=preset, threshold=threshold,
                         progress=False)
    return [r.to_dict() for r in results]


def _evaluate_chunk(generator, prompts: Sequence[Prompt], n: int, seed: int, first: int,
                    chunk: int, preset: str, threshold: float, pool, n_points: int,
                    icp: IcpSettings, targets: dict,
                    times: dict[str, float]) -> list[dict[str, Any]]:
    """The rows of one chunk of prompts, the first at position `first` of the evaluation
    (sample j of prompt i has seed `seed + i*n + j`): sampled, checked by the oracle and
    scored against the ground truth (points drawn with `seed`); stage times added to `times`."""
    t0 = time.perf_counter()
    generated = _generate(generator, prompts, n, seed + first * n, chunk, False)
    rows, outputs = [], []
    for k, (sample, error) in enumerate(generated):
        prompt = prompts[k // n]
        rows.append(_base_row(prompt, k % n, sample, error))
        if rows[-1]["output"]:
            outputs.append((k, prompt, sample.mesh))
    del generated  # latents and grids are not needed any more
    t1 = time.perf_counter()
    verdicts = _oracle([m for _, _, m in outputs], preset, threshold, pool)
    _apply_oracle([rows[k] for k, _, _ in outputs], verdicts)
    t2 = time.perf_counter()
    geometry = score_geometry([(p.obj, m) for _, p, m in outputs], n_points=n_points,
                              seed=seed, progress=False,
                              protocol=icp, cache=targets)
    for (k, _, _), (cd, f, err) in zip(outputs, geometry, strict=True):
        rows[k]["cd"], rows[k]["fscore"] = cd, f
        if err:
            _add_error(rows[k], f"geometry: {err}")
    t3 = time.perf_counter()
    for name, seconds in (("generate_s", t1 - t0), ("oracle_s", t2 - t1),
                          ("geometry_s", t3 - t2)):
        times[name] += seconds
    return rows


def _base_row(prompt: Prompt, sample_index: int, sample, error: str | None) -> dict[str, Any]:
    mesh = getattr(sample, "mesh", None) if sample is not None else None
    return {
        "object_id": str(prompt.obj.id),
        "family": str(prompt.obj.family),
        "view": prompt.view,
        "sample": sample_index,
        "seed": None if getattr(sample, "seed", None) is None else int(sample.seed),
        "output": mesh is not None,
        "stable": None,
        "tilt_deg": None,
        "dso_angle_deg": None,
        "pieces": None,
        "stable_reason": None,
        "cd": None,
        "fscore": None,
        "error": error,
    }


def _add_error(row: dict[str, Any], message: str) -> None:
    row["error"] = message if not row["error"] else f"{row['error']}; {message}"


def _apply_oracle(rows: list[dict], verdicts: list[dict]) -> None:
    for row, verdict in zip(rows, verdicts, strict=True):
        if verdict.get("status") == "ok":
            row["stable"] = bool(verdict["stable"])
            row["tilt_deg"] = float(verdict["tilt_deg"])
            angle = verdict.get("dso_angle_deg")
            row["dso_angle_deg"] = None if angle is None else float(angle)
            row["pieces"], row["stable_reason"] = verdict.get("pieces"), verdict.get("reason")
        else:  # an output the simulator cannot check counts as not stable (see summarize_rows)
            row["stable"] = False
            _add_error(row, f"oracle: {verdict.get('error') or 'failed'}")


def evaluate(
    generator,
    world,
    split: str,
    *,
    samples_per_image: int = 1,
    seed: int = 0,
    limit: int | None = None,
    preset: str = "accurate",
    threshold: float = 20.0,
    workers: int | None = None,
    progress: bool = True,
    n_points: int = 10000,
    chunk: int = 64,
    protocol: str | IcpSettings = DEFAULT_PROTOCOL,
    bootstrap: int = DEFAULT_RESAMPLES,
    partial: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate `generator` on the prompts of `world`'s `split` (docs/method.md §Evaluation).

    `world` is a `dso.world.World` or a path to one. `limit` caps the number of prompt images
    (view-major, see `select_prompts`). `protocol` sets the ICP of the geometry ("paper": the
    release's, "dso-v1", or an IcpSettings; `dso.eval.icp`). `bootstrap` resamples of the
    objects give 95% intervals (0: none). Returns a JSON-ready dict: `meta`, `overall` and
    `families` (each with n_prompts, n_samples, output_pct, stable_pct, rot_deg (the preset's
    angle), tilt_deg_mean, dso_angle_deg_mean, cd, fscore, error counts and, with `bootstrap`,
    `ci` = {metric: [lo, hi]}) and `items` (one row per generated sample).
    Prompts go in chunks of `chunk` images (one generator batch each). With `partial` (a file
    path), each finished chunk's rows are kept there, and a call that finds the file written
    with the same settings, generator weights and world goes on after its last chunk (the
    rows are those an uninterrupted call gives); the caller removes the file when done.
    """
    if samples_per_image < 1 or n_points < 1 or bootstrap < 0:
        raise ValueError(f"samples_per_image and n_points must be >= 1 and bootstrap >= 0, "
                         f"got {samples_per_image}, {n_points}, {bootstrap}")
    from dso.physics import OracleConfig

    OracleConfig.from_preset(preset, threshold_deg=float(threshold))  # bad settings fail now
    icp = icp_settings(protocol)
    angle = angle_of_preset(preset)
    if isinstance(world, (str, Path)):
        from dso.world import World

        world = World.open(world)
    from dso.world.index import round_robin

    splits = sorted({o.split for o in world})
    if split not in splits:
        raise ValueError(f"the world at {world.root} has no split {split!r} (it has "
                         f"{', '.join(splits) or 'no objects'})")
    prompts = select_prompts(round_robin(world.objects(split)), limit)
    if not prompts:
        raise ValueError(f"split {split!r} has no prompts")
    world_fingerprint = world.fingerprint(split)
    times = {"generate_s": 0.0, "oracle_s": 0.0, "geometry_s": 0.0}
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    if partial is not None:
        rows = _resumed(partial, _partial_key(generator, world_fingerprint, split,
                                              samples_per_image, seed, limit, preset,
                                              threshold, n_points, icp))
    from dso.physics import CheckPool

    targets: dict = {}  # each object's ground truth, sampled once for all its views
    with tqdm(total=len(prompts), initial=len(rows) // samples_per_image, desc="evaluate",
              unit="img", disable=not progress) as bar, CheckPool(workers) as pool:
        for first in range(len(rows) // samples_per_image, len(prompts), chunk):
            part = prompts[first:first + chunk]
            done = _evaluate_chunk(generator, part, samples_per_image, seed, first, chunk,
                                   preset, threshold, pool, n_points, icp, targets, times)
            rows += done
            if partial is not None:
                from dso.eval.partial import append

                append(partial, done)
            bar.update(len(part))
    times["total_s"] = time.perf_counter() - t0

    meta = {
        "generator": getattr(generator, "name", type(generator).__name__),
        "split": split, "world": {"path": str(world.root), "fingerprint": world_fingerprint},
        "seed": seed, "samples_per_image": samples_per_image, "limit": limit,
        "preset": preset, "threshold_deg": threshold, "n_points": n_points,
        "fscore_threshold": 0.05, "fscore_scale": "percent", "timings": times,
        "protocol": protocol if isinstance(protocol, str) else "custom",
        "icp": dataclasses.asdict(icp), "rot_angle": angle,
        "bootstrap": {"resamples": bootstrap, "level": 0.95, "seed": 0,
                      "unit": UNIT} if bootstrap else None,
        "sampler": _sampler_settings(generator),
    }
    summary = summarize_rows(rows, angle)
    if bootstrap:
        add_intervals(summary, rows, n_resamples=bootstrap, seed=0, angle=angle)
    return {"meta": meta, **summary, "items": rows}


def _partial_key(generator, world_fingerprint: str, split: str, n: int, seed: int,
                 limit: int | None, preset: str, threshold: float, n_points: int,
                 icp: IcpSettings) -> dict:
    """Everything that decides an evaluation's rows: a resumed one must match it."""
    from dso.data.generate import weights_fingerprint

    return {"weights": weights_fingerprint(generator), "sampler": _sampler_settings(generator),
            "world": world_fingerprint, "split": split, "samples_per_image": n,
            "seed": seed, "limit": limit, "preset": preset, "threshold_deg": float(threshold),
            "n_points": n_points, "icp": dataclasses.asdict(icp)}


def _resumed(path: str | Path, key: dict) -> list[dict[str, Any]]:
    """The rows an earlier, killed call left in `path` under the same `key` (the file is then
    rewritten with them alone); [] and a new file otherwise."""
    from dso.eval.partial import read_rows, start

    rows = read_rows(path, key) or []
    start(path, key, rows)
    return rows


def make_eval_fn(world, split: str = "val", *, limit: int | None = 64, **kwargs: Any):
    """A training hook `eval_fn(generator, step) -> overall numbers` (dso.train guardrails):
    `evaluate` on the first `limit` prompts of `split` (default the validation split, so that
    nothing reported on `eval` was chosen by looking at it), quietly, returning `overall`
    (without bootstrap intervals unless `bootstrap` is given)."""
    kwargs.setdefault("progress", False)
    kwargs.setdefault("bootstrap", 0)

    def eval_fn(generator, step: int) -> dict[str, Any]:
        return dict(evaluate(generator, world, split, limit=limit, **kwargs)["overall"])

    return eval_fn


def _sampler_settings(generator: Any) -> dict | None:
    """The generator's sampler settings (steps, guidance, ...) when it has a dataclass one."""
    sampler = getattr(generator, "sampler", None)
    return dataclasses.asdict(sampler) if dataclasses.is_dataclass(sampler) else None
