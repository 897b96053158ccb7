"""Picture grid of several generators on the same prompts and seeds (base vs fine-tuned)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dso.eval.plots import picture_grid
from dso.eval.run import Prompt, select_prompts
from dso.interrupts import reraise_if_interrupted

__all__ = ["caption", "compare_gallery", "spread_prompts"]


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


def compare_gallery(
    generators: Mapping[str, Any],
    world: Any,
    split: str,
    out: str | Path,
    *,
    n_prompts: int = 6,
    seed: int = 0,
    size: int = 96,
    verdicts: bool = True,
) -> Path:
    """Generate one sample per prompt with each generator (same seeds) and draw
    `prompt | model 1 | model 2 ...` rows, prompts spread over the split's families; with
    `verdicts`, each render is captioned with the oracle's verdict on it (`accurate` preset:
    "stable 2°", "FALLS 88°", "PIECES (3)")."""
    prompts = spread_prompts(select_prompts(world.objects(split)), n_prompts)
    if not prompts:
        raise ValueError(f"split {split!r} has no prompts")
    images = [p.image for p in prompts]
    columns: list[list[Any]] = []
    for generator in generators.values():
        try:
            samples = sorted(generator.generate(images, n=1, seed=seed),
                             key=lambda s: s.prompt_index)
            columns.append([s.mesh for s in samples])
        except Exception:  # a failing model shows as "no output" rather than losing the figure
            reraise_if_interrupted()
            columns.append([None] * len(images))
    rows = [(image, [col[i] for col in columns]) for i, image in enumerate(images)]
    labels = [f"{p.obj.id}\nview {p.view}" for p in prompts]  # the id names the family
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
