"""Picture grid of several generators on the same prompts and seeds (base vs fine-tuned)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dso.eval.plots import picture_grid
from dso.eval.run import Prompt, select_prompts
from dso.interrupts import reraise_if_interrupted

__all__ = ["caption", "compare_gallery", "gallery_prompts", "spread_prompts"]


def spread_prompts(prompts: list[Prompt], n: int) -> list[Prompt]:
    """Up to `n` prompts taken round-robin over families (in first-seen order)."""
    by_family: dict[str, list[Prompt]] = {}
    for p in prompts:
        by_family.setdefault(str(p.obj.family), []).append(p)
    queues = list(by_family.values())
    out: list[Prompt] = []
    depth = 0
    while len(out) < n and any(depth < len(q) for q in queues):
        out += [q[depth] for q in queues if depth < len(q)][: n - len(out)]
        depth += 1
    return out


def gallery_prompts(world: Any, split: str, n_prompts: int, *, seed: int = 0,
                    samples_per_image: int = 1,
                    limit: int | None = None) -> list[tuple[Prompt, int]]:
    """Up to `n_prompts` of the prompts `evaluate(world, split, seed=seed, limit=limit,
    samples_per_image=...)` scores, spread over families, each with the seed of its first
    sample there (prompt i's sample 0 has seed `seed + i * samples_per_image`): so a gallery
    shows samples the eval table counted."""
    from dso.world.index import round_robin

    prompts = select_prompts(round_robin(world.objects(split)), limit)
    seeds = {id(p): seed + i * samples_per_image for i, p in enumerate(prompts)}
    return [(p, seeds[id(p)]) for p in spread_prompts(prompts, n_prompts)]


def compare_gallery(
    generators: Mapping[str, Any],
    world: Any,
    split: str,
    out: str | Path,
    *,
    n_prompts: int = 6,
    seed: int = 0,
    samples_per_image: int = 1,
    limit: int | None = None,
    size: int = 96,
    verdicts: bool = True,
) -> Path:
    """Draw `prompt | model 1 | model 2 ...` rows: one sample per prompt from each generator,
    the one `evaluate` with the same `seed`, `samples_per_image` and `limit` draws first for
    that prompt (`gallery_prompts`); with `verdicts`, each render is captioned with the
    oracle's verdict on it (`accurate` preset: "stable 2°", "FALLS 88°", "PIECES (3)")."""
    chosen = gallery_prompts(world, split, n_prompts, seed=seed,
                             samples_per_image=samples_per_image, limit=limit)
    if not chosen:
        raise ValueError(f"split {split!r} has no prompts")
    images = [p.image for p, _ in chosen]
    columns: list[list[Any]] = []
    for generator in generators.values():
        try:
            columns.append([generator.generate([p.image], n=1, seed=s)[0].mesh
                            for p, s in chosen])
        except Exception:  # a failing model shows as "no output" rather than losing the figure
            reraise_if_interrupted()
            columns.append([None] * len(images))
    rows = [(image, [col[i] for col in columns]) for i, image in enumerate(images)]
    labels = [f"{p.obj.id}\nview {p.view}" for p, _ in chosen]  # the id names the family
    return picture_grid(rows, list(generators), out, size=size, row_labels=labels,
                        captions=_captions(rows) if verdicts else None)


def caption(result: Any) -> str:
    """A render's caption from its `CheckResult`: the verdict, with the tilt or the pieces."""
    word = result.verdict
    if word == "PIECES" and result.pieces:
        return f"PIECES ({result.pieces})"
    if word in ("stable", "FALLS") and math.isfinite(result.tilt_deg):
        return f"{word} {result.tilt_deg:.0f}°"
    return word


def _captions(rows: list[tuple[Any, list[Any]]]) -> list[list[str | None]]:
    """Per row, the caption of each model's mesh (None where there is no mesh)."""
    from dso.physics import check_many

    meshes = [m for _, row in rows for m in row if m is not None]
    results = iter(check_many(meshes, workers=1, progress=False))
    return [[None if m is None else caption(next(results)) for m in row] for _, row in rows]
