"""`--render FILE.png|FILE.gif`: pictures of the start and end pose, or of the whole fall.

The meshes are simulated again under the command's settings with their poses recorded (the
early stop for "fallen" is lifted so the picture shows where the object ends up), then drawn by
MuJoCo's offscreen renderer when a GL backend works (EGL, or OSMesa; tried in a child process so
a broken GL cannot take this one down) and otherwise by dso's pure-numpy renderer. Frames are
composed with Pillow. The captions give the verdict the table printed; a second line says what
the end picture shows when its pose is not the one the verdict was read at.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import trimesh

from dso.physics.config import OracleConfig
from dso.physics.oracle import Evaluation, evaluate
from dso.physics.render_mujoco import MujocoUnavailable, render_with_mujoco
from dso.physics.result import CheckResult

MAX_MESHES = 12  # meshes drawn in one picture
GIF_FPS = 10
PANEL = 256  # pixels per panel
INSTALL_HINT = ("install the software renderer's dependencies (numpy, pillow; `pip install dso`) "
                "or a GL backend for MuJoCo: `apt-get install libegl1` (MUJOCO_GL=egl) or "
                "`apt-get install libosmesa6` (MUJOCO_GL=osmesa)")


class RenderUnavailable(RuntimeError):
    """No renderer could draw the picture; the message says what to install."""


def quat_to_matrix(quat: np.ndarray) -> np.ndarray:
    """Rotation matrix of a (w, x, y, z) quaternion."""
    w, x, y, z = np.asarray(quat, dtype=np.float64) / np.linalg.norm(quat)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def posed_vertices(vertices: np.ndarray, qpos: np.ndarray) -> np.ndarray:
    """Vertices moved by a free joint's qpos (position, then quaternion w x y z)."""
    return np.asarray(vertices) @ quat_to_matrix(qpos[3:7]).T + np.asarray(qpos[:3])


def recording_config(config: OracleConfig, gif: bool) -> OracleConfig:
    """`config` as the picture's rollout runs it: poses recorded, no early stop for "fallen"
    (to show where the object ends up), no tilted starts (their rollouts are not drawn; the
    verdict they decided comes from the table's result)."""
    return dataclasses.replace(config, fallen_deg=179.0, perturb_deg=0.0,
                               record_every_s=1.0 / GIF_FPS if gif else config.horizon_s)


def _floor_tiles(centre: np.ndarray, parity: int, half: float = 1.6, tile: float = 0.2):
    """Every other tile of a checker floor at z = 0, shifted like the object."""
    n = int(round(2 * half / tile))
    vertices, faces = [], []
    for i in range(n):
        for j in range(n):
            if (i + j) % 2 != parity:
                continue
            x, y = -half + i * tile, -half + j * tile
            k = len(vertices)
            vertices += [[x, y, 0], [x + tile, y, 0], [x + tile, y + tile, 0], [x, y + tile, 0]]
            faces += [[k, k + 1, k + 2], [k, k + 2, k + 3]]
    return trimesh.Trimesh(np.asarray(vertices) - centre, faces, process=False)


def _software_frame(mesh: trimesh.Trimesh, qpos: np.ndarray, size: int) -> np.ndarray:
    from dso.render import render_mesh

    v = posed_vertices(mesh.vertices, qpos)
    centre = np.array([v[:, 0].mean(), v[:, 1].mean(), 0.5])
    kw = {"size": size, "azimuth_deg": 30.0, "elevation_deg": 20.0, "frame_radius": 0.9}
    image = render_mesh(trimesh.Trimesh(v - centre, mesh.faces, process=False), **kw)
    floor = np.maximum(render_mesh(_floor_tiles(centre, 0), color=(0.3, 0.32, 0.38), **kw),
                       render_mesh(_floor_tiles(centre, 1), color=(0.2, 0.22, 0.26), **kw))
    drawn = image.max(axis=2, keepdims=True) > 0
    return np.where(drawn, image, floor)  # the floor never hides an object above it


def _poses(evaluation: Evaluation, indices: list[int]) -> list[np.ndarray]:
    frames = evaluation.frames or []
    return [frames[min(i, len(frames) - 1)] for i in indices]


def _frames(evaluations: list[Evaluation], indices: list[list[int]],
            backend: str) -> list[list[np.ndarray]]:
    scenes = [(e.mesh, _poses(e, idx)) for e, idx in zip(evaluations, indices, strict=True)]
    if backend == "software":
        return [[_software_frame(mesh, q, PANEL) for q in qpos] for mesh, qpos in scenes]
    return render_with_mujoco(scenes, PANEL, backend)


def _backends() -> list[str]:
    chosen = os.environ.get("MUJOCO_GL", "").strip().lower()
    if chosen in ("egl", "osmesa"):
        return [chosen, "software"]
    return ["egl", "osmesa", "software"]


def _draw(evaluations: list[Evaluation], indices: list[list[int]],
          backends: list[str]) -> tuple[list, str]:
    errors = []
    for backend in backends:
        try:
            return _frames(evaluations, indices, backend), backend
        except (MujocoUnavailable, ImportError) as err:
            errors.append(f"{backend}: {err}")
    raise RenderUnavailable("no renderer works here (" + "; ".join(errors) + "); " + INSTALL_HINT)


def _label(image: np.ndarray, text: str) -> np.ndarray:
    from PIL import Image, ImageDraw

    pil = Image.fromarray(image)
    ImageDraw.Draw(pil).text((4, 4), text, fill=(255, 255, 255))
    return np.asarray(pil)


def _verdict_angle(result: CheckResult) -> tuple[str, float]:
    """The name and value of the angle `result`'s preset decides with."""
    if OracleConfig.from_preset(result.preset).verdict_angle == "dso":
        return "2acos(w)", result.dso_angle_deg
    return "tilt", result.tilt_deg


def _shown(shown: CheckResult) -> str:
    """What the end picture shows: the recorded rollout's stop and angle."""
    when = {"settled": f"at rest after {shown.sim_seconds:.1f} s",
            "fallen": f"upside down at {shown.sim_seconds:.1f} s"}.get(
        shown.stop_reason or "", f"after {shown.sim_seconds:.1f} s")
    return f"(shown: {when}, {_verdict_angle(shown)[1]:.1f} deg)"


def caption(result: CheckResult, shown: CheckResult | None = None) -> str:
    """The picture's caption: the table's verdict and its angle (pieces, or the tilted starts'
    angle when they decided it); a second line when the end picture (`shown`, the recorded
    rollout) is not at the verdict's angle, or shows the upright start of a perturbed verdict."""
    name = Path(result.path).name if result.path else "mesh"
    label, angle = _verdict_angle(result)
    text = f"{name}: {result.verdict}, {label} {angle:.1f} deg"
    if result.verdict == "PIECES":
        text += f", {result.pieces} pieces"
    if result.reason == "perturbed":
        return text + f"\nperturbed starts: {result.perturbed_deg:.1f} deg (shown: upright)"
    if shown is not None and abs(_verdict_angle(shown)[1] - angle) > 0.5:
        text += "\n" + _shown(shown)
    return text


def _caption(evaluation: Evaluation, table: CheckResult | None = None) -> str:
    return caption(table or evaluation.result, evaluation.result if table else None)


def frame_captions(evaluation: Evaluation, table: CheckResult | None, n_frames: int) -> list[str]:
    """A GIF's caption per frame: what the end pose shows is said only once the mesh's
    recorded rollout has reached its last frame (before it, the caption without `shown`)."""
    end = len(evaluation.frames or [None]) - 1
    full, before = _caption(evaluation, table), caption(table or evaluation.result)
    return [full if t >= end else before for t in range(n_frames)]


def render_checks(paths: list[str], out: Path, *, up: str = "auto", preset: str = "accurate",
                  threshold: float = 20.0, backends: list[str] | None = None,
                  config: OracleConfig | None = None,
                  results: list[CheckResult] | None = None) -> str:
    """Draw the first MAX_MESHES meshes' start and end poses (.png) or their fall (.gif).

    One row per mesh in a PNG (start | end), meshes side by side in a GIF. The rollouts run
    under `config` (default: built from up, preset, threshold) as `recording_config` changes
    it; `results`, when given (one per path: the table's), caption the pictures. `backends`
    are tried in order (default: MUJOCO_GL's if set, else egl, osmesa, then "software").
    Returns the backend used; raises RenderUnavailable, saying what to install, when none
    works.
    """
    from PIL import Image

    if config is None:
        config = OracleConfig.from_preset(preset, up=up, threshold_deg=threshold)
    gif = Path(out).suffix.lower() == ".gif"
    record = recording_config(config, gif)
    tables = list(results or [None] * len(paths))[:MAX_MESHES]
    pairs = [(evaluate(p, record), t) for p, t in zip(paths[:MAX_MESHES], tables, strict=True)]
    pairs = [(e, t) for e, t in pairs if e.result.status == "ok"]
    if not pairs:
        raise RenderUnavailable("no mesh could be evaluated, nothing to draw")
    evaluations = [e for e, _ in pairs]
    n_frames = max(len(e.frames or []) for e in evaluations) if gif else 2
    indices = [list(range(n_frames)) if gif else [0, len(e.frames or [1]) - 1]
               for e in evaluations]
    drawn, backend = _draw(evaluations, indices, _backends() if backends is None else backends)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    if gif:
        per_frame = [frame_captions(e, t, n_frames) for e, t in pairs]
        frames = [np.concatenate([_label(d[t], c[t]) for d, c in zip(drawn, per_frame,
                                                                    strict=True)], axis=1)
                  for t in range(n_frames)]
        images = [Image.fromarray(f) for f in frames]
        images[0].save(out, save_all=True, append_images=images[1:], loop=0,
                       duration=int(1000 / GIF_FPS))
    else:
        rows = [np.concatenate([_label(d[0], "start"), _label(d[1], _caption(e, t))], axis=1)
                for d, (e, t) in zip(drawn, pairs, strict=True)]
        Image.fromarray(np.concatenate(rows, axis=0)).save(out)
    return backend
