"""A contact sheet of a world: per family, a few objects as prompt images and as voxel grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dso.geometry import grid_to_mesh
from dso.render import render_mesh
from dso.world.index import World
from dso.world.plan import SPLITS

LABEL_W = 84


def _label(text: str, height: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    tile = Image.new("RGB", (LABEL_W, height), (0, 0, 0))
    ImageDraw.Draw(tile).text((4, height // 2 - 6), text, fill=(230, 230, 230))
    return np.asarray(tile)


def _grid_tile(obj, size: int) -> np.ndarray:
    mesh = grid_to_mesh(obj.grid())
    if mesh is None:
        return np.zeros((size, size, 3), np.uint8)
    azimuth = obj.record.get("azimuths_deg", [30.0])[0]  # seen as in the first view
    elevation = obj.record.get("elevation_deg", 20.0)
    return render_mesh(mesh, size=size, azimuth_deg=azimuth, elevation_deg=elevation,
                       color=(0.6, 0.6, 0.62))


def contact_sheet(world: World, out: str | Path, *, per_family: int = 4, size: int = 64,
                  split: str | None = None, with_grids: bool = True) -> Path:
    """Write a PNG: one row per family, `per_family` objects, each as its first view (and,
    with `with_grids`, a grey render of its occupancy grid beside it). Returns the path."""
    from PIL import Image

    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; a world has {', '.join(SPLITS)}")
    rows = []
    for family in world.families:
        objs = world.objects(split=split, family=family)[:per_family]
        if not objs:
            continue
        tiles = [_label(family, size)]
        for obj in objs:
            image = obj.images()[0]
            if image.shape[0] != size:
                image = np.asarray(Image.fromarray(image).resize((size, size)))
            tiles.append(image)
            if with_grids:
                tiles.append(_grid_tile(obj, size))
        width = LABEL_W + per_family * size * (2 if with_grids else 1)
        row = np.concatenate(tiles, axis=1)
        rows.append(np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0))))
    if not rows:
        raise ValueError(f"no objects to show in {world.root}"
                         + (f" (split {split!r} is empty)" if split else ""))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(out, optimize=True)
    return out
