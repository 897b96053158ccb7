"""Build the MuJoCo model: one free rigid body on a flat plane.

Collision goes through the convex hull, exact for one body on a plane (docs/oracle.md §Collision),
so the accurate model gets the vertices only, no faces: MuJoCo builds the hull itself (its qhull
is faster than computing the hull here first) and skips all per-face work; mass and inertia come
explicitly from `mass.py`. The hull is not capped (`maxhullvert` changes the support polygon).
The legacy model reproduces the original release: the full mesh, MuJoCo's default
``inertia="legacy"`` and density 1000.

The body frame coincides with the normalised mesh frame, so the free joint's quaternion is the
object's rotation and its position the displacement of the mesh origin.
"""

from __future__ import annotations

import numpy as np

from dso.physics._mujoco import mujoco
from dso.physics.mass import MassProperties

DENSITY = 1000.0


def _base_spec(dt: float) -> mujoco.MjSpec:
    spec = mujoco.MjSpec()
    spec.compiler.usethread = False  # one thread per worker; also keeps compilation simple
    spec.option.timestep = dt
    spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[4.0, 4.0, 0.1])
    return spec


def build_hull_model(vertices: np.ndarray, props: MassProperties, dt: float) -> mujoco.MjModel:
    """Model colliding through the hull of `vertices`, with explicit exact mass properties."""
    spec = _base_spec(dt)
    mesh = spec.add_mesh(name="object")
    mesh.uservert = np.asarray(vertices, dtype=np.float64).ravel()
    body = spec.worldbody.add_body(name="object")
    body.add_freejoint()
    body.explicitinertial = True
    body.mass = float(props.mass)
    body.ipos = [float(x) for x in props.com]
    i = props.inertia
    body.fullinertia = [i[0, 0], i[1, 1], i[2, 2], i[0, 1], i[0, 2], i[1, 2]]
    body.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname="object", density=0.0,
                  rgba=[0.8, 0.6, 0.4, 1.0])
    spec.compiler.inertiafromgeom = mujoco.mjtInertiaFromGeom.mjINERTIAFROMGEOM_FALSE
    return spec.compile()


def build_legacy_model(vertices: np.ndarray, faces: np.ndarray, dt: float) -> mujoco.MjModel:
    """The original release's model: full mesh, MuJoCo legacy inertia, density 1000."""
    spec = _base_spec(dt)
    mesh = spec.add_mesh(name="object")
    mesh.uservert = np.asarray(vertices, dtype=np.float64).ravel()
    mesh.userface = np.asarray(faces, dtype=np.int32).ravel()
    mesh.inertia = mujoco.mjtMeshInertia.mjMESH_INERTIA_LEGACY
    body = spec.worldbody.add_body(name="object")
    body.add_freejoint()
    body.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname="object", density=DENSITY,
                  rgba=[0.8, 0.6, 0.4, 1.0])
    return spec.compile()
