"""MuJoCo offscreen rendering of posed meshes, run in a child process.

MuJoCo picks its GL backend once, when its GL module is imported, from MUJOCO_GL; a child
process lets us try EGL and OSMesa without touching this process, and a GL crash costs only the
child. `python -m dso.physics.render_mujoco IN.npz OUT.npz` is the child's entry point.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import trimesh

CHILD_TIMEOUT_S = 120


class MujocoUnavailable(RuntimeError):
    """This GL backend does not work here."""


def render_with_mujoco(scenes: list[tuple[trimesh.Trimesh, list[np.ndarray]]], size: int,
                       backend: str) -> list[list[np.ndarray]]:
    """For each (mesh, free-joint poses): frames `[size, size, 3]`, via MUJOCO_GL=`backend`."""
    env = dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend)
    arrays: dict[str, np.ndarray] = {"size": np.array(size), "count": np.array(len(scenes))}
    for i, (mesh, qpos) in enumerate(scenes):
        arrays[f"vertices{i}"] = np.asarray(mesh.vertices)
        arrays[f"faces{i}"] = np.asarray(mesh.faces)
        arrays[f"qpos{i}"] = np.stack(qpos)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(src, **arrays)
        try:
            proc = subprocess.run([sys.executable, "-m", "dso.physics.render_mujoco",
                                   str(src), str(dst)], env=env, capture_output=True,
                                  text=True, timeout=CHILD_TIMEOUT_S)
        except subprocess.TimeoutExpired as err:
            raise MujocoUnavailable(f"timed out after {CHILD_TIMEOUT_S} s") from err
        if proc.returncode != 0 or not dst.exists():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise MujocoUnavailable(last[:300])
        with np.load(dst) as data:
            return [list(data[f"frames{i}"]) for i in range(len(scenes))]


def _scene(vertices: np.ndarray, faces: np.ndarray, size: int):
    import mujoco

    spec = mujoco.MjSpec()
    spec.visual.global_.offwidth = spec.visual.global_.offheight = max(size, 64)
    spec.visual.quality.offsamples = 4
    tex = spec.add_texture(name="grid", type=mujoco.mjtTexture.mjTEXTURE_2D,
                           builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER, width=256, height=256,
                           rgb1=[0.32, 0.34, 0.4], rgb2=[0.22, 0.24, 0.28])
    mat = spec.add_material(name="grid", texrepeat=[8, 8])
    mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = tex.name
    spec.worldbody.add_light(pos=[1.0, -1.0, 3.0], dir=[-0.3, 0.3, -1.0])
    spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_PLANE, size=[4, 4, 0.1], material="grid")
    mesh = spec.add_mesh(name="object")
    mesh.uservert = vertices.ravel().tolist()
    mesh.userface = faces.ravel().tolist()
    mesh.inertia = mujoco.mjtMeshInertia.mjMESH_INERTIA_SHELL  # any mesh, open ones included
    body = spec.worldbody.add_body(name="object")
    body.add_freejoint()
    body.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname="object", rgba=[0.8, 0.72, 0.6, 1])
    return spec.compile()


def _draw(renderer, model, qpos: np.ndarray) -> list[np.ndarray]:
    import mujoco

    state = mujoco.MjData(model)
    camera = mujoco.MjvCamera()
    camera.distance, camera.azimuth, camera.elevation = 2.6, 30.0 - 180.0, -20.0
    frames = []
    for q in qpos:
        state.qpos[:] = q
        mujoco.mj_forward(model, state)
        camera.lookat[:] = [state.xipos[1][0], state.xipos[1][1], 0.45]
        renderer.update_scene(state, camera)
        frames.append(renderer.render().copy())
    return frames


def _child(src: Path, dst: Path) -> None:
    import mujoco

    out = {}
    with np.load(src) as data:
        size = int(data["size"])
        for i in range(int(data["count"])):
            model = _scene(data[f"vertices{i}"], data[f"faces{i}"], size)
            with mujoco.Renderer(model, size, size) as renderer:
                out[f"frames{i}"] = np.stack(_draw(renderer, model, data[f"qpos{i}"]))
    np.savez(dst, **out)


if __name__ == "__main__":
    _child(Path(sys.argv[1]), Path(sys.argv[2]))
