"""Build one slot of the world: draw, gate, voxelise, render, write. Runs in workers."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from dso.geometry import grid_to_mesh, mesh_to_grid
from dso.interrupts import reraise_if_interrupted
from dso.render import render_views, view_azimuths
from dso.world.families import make_object
from dso.world.gate import judge
from dso.world.plan import Slot, WorldConfig, attempt_seed


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def png_bytes(image: np.ndarray) -> bytes:
    """PNG encoding of a uint8 RGB image."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def grid_bytes(occ: np.ndarray) -> bytes:
    """A compressed .npz holding the bool grid under key "occ"."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, occ=occ.astype(bool))
    return buffer.getvalue()


def _try(family: str, seed: int, config: WorldConfig) -> tuple[dict, str]:
    """One draw through the gate: the mesh, then (optionally) the mesh of its grid."""
    params, mesh = make_object(family, seed)
    verdict = judge(mesh, config.max_tilt_deg, config.min_margin)
    if not verdict.keep:
        return {}, verdict.reason
    occ = mesh_to_grid(mesh, config.resolution, supersample=config.grid_supersample)
    grid_verdict = None
    if config.gate_grid:
        grid_mesh = grid_to_mesh(occ)
        grid_verdict = judge(grid_mesh, config.max_tilt_deg, 0.0) if grid_mesh else None
        if grid_verdict is None or not grid_verdict.keep:
            return {}, "grid_" + (grid_verdict.reason if grid_verdict else "empty")
    return {"params": params, "mesh": mesh, "occ": occ, "verdict": verdict,
            "grid_verdict": grid_verdict}, "ok"


def _draw_stable(slot: Slot, config: WorldConfig) -> tuple[dict, dict[str, int]]:
    """Draw until the gate keeps one; returns the kept draw and the rejection reasons."""
    rejected: dict[str, int] = {}
    last_error = None
    for attempt in range(config.max_attempts):
        seed = attempt_seed(config.seed, slot, attempt)
        try:
            draw, reason = _try(slot.family, seed, config)
        except Exception as err:  # noqa: BLE001 - a bad draw never stops the world
            reraise_if_interrupted()
            rejected["error"] = rejected.get("error", 0) + 1
            last_error = f"{type(err).__name__}: {err}"
            continue
        if draw:
            return {**draw, "seed": seed, "attempt": attempt}, rejected
        rejected[reason] = rejected.get(reason, 0) + 1
    return {"error": last_error} if last_error else {}, rejected


def _rounded(verdict: Any, field: str, digits: int) -> float | None:
    value = None if verdict is None else getattr(verdict, field)
    return None if value is None else round(float(value), digits)


def build_slot(slot: Slot, config: WorldConfig, root: str | Path) -> dict[str, Any]:
    """Build `slot` under `root` and return its index record (status "ok" or "failed")."""
    start, cpu_start = time.perf_counter(), time.process_time()
    root = Path(root)
    base = {"id": slot.id, "family": slot.family, "split": slot.split, "index": slot.index}
    draw, rejected = _draw_stable(slot, config)
    base["rejected"] = sum(rejected.values())
    base["rejected_reasons"] = rejected
    if "mesh" not in draw:
        return {**base, "status": "failed", "error": draw.get("error"),
                "seconds": round(time.perf_counter() - start, 4)}
    mesh: trimesh.Trimesh = draw["mesh"]
    occ = draw["occ"]
    rng = np.random.default_rng(draw["seed"])
    elevation = round(float(rng.uniform(10.0, 30.0)), 3)
    views = render_views(mesh, n_views=slot.n_views, size=config.image_size,
                         elevation_deg=elevation, seed=draw["seed"],
                         color=draw["params"].get("color"))
    mesh_rel, grid_rel = f"meshes/{slot.id}.ply", f"grids/{slot.id}.npz"
    view_rels = [f"images/{slot.id}/{k:02d}.png" for k in range(slot.n_views)]
    for rel, image in zip(view_rels, views, strict=True):
        _write_atomic(root / rel, png_bytes(image))
    _write_atomic(root / grid_rel, grid_bytes(occ))
    _write_atomic(root / mesh_rel, mesh.export(file_type="ply"))
    verdict = draw["verdict"]
    return {
        **base, "status": "ok", "seed": draw["seed"], "attempt": draw["attempt"],
        "params": draw["params"], "mesh": mesh_rel, "grid": grid_rel, "views": view_rels,
        "elevation_deg": elevation,
        "azimuths_deg": [round(float(a), 3) for a in view_azimuths(slot.n_views, draw["seed"])],
        "tilt_deg": None if verdict.tilt_deg is None else round(float(verdict.tilt_deg), 4),
        "margin": None if verdict.margin is None else round(float(verdict.margin), 5),
        "grid_tilt_deg": _rounded(draw["grid_verdict"], "tilt_deg", 4),
        "grid_margin": _rounded(draw["grid_verdict"], "margin", 5),
        "faces": int(len(mesh.faces)), "volume": round(float(mesh.volume), 6),
        "occupied": int(occ.sum()), "seconds": round(time.perf_counter() - start, 4),
        "cpu_seconds": round(time.process_time() - cpu_start, 4),
    }
