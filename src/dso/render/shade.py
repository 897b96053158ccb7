"""Public rendering entry points: Lambert-lit flat shading on black, anti-aliased."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import trimesh

from dso.render.camera import OrbitCamera
from dso.render.raster import covered_pixels, zbuffer

DEFAULT_COLOR = (0.78, 0.74, 0.68)


def _face_shades(tri: np.ndarray, cam: OrbitCamera, color: np.ndarray, ambient: float,
                 light_strength: float) -> np.ndarray:
    """RGB of each face under a key light, a fill light and a sky term fixed to the camera."""
    eye, right, up, forward = cam.basis()
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    to_eye = eye - tri.mean(axis=1)
    normals *= np.where((normals * to_eye).sum(axis=1) < 0, -1.0, 1.0)[:, None]  # two-sided
    key = -forward * 0.7 + up * 0.6 - right * 0.4
    fill = -forward * 0.8 + right * 0.7 - up * 0.1
    key, fill = key / np.linalg.norm(key), fill / np.linalg.norm(fill)
    diffuse = 0.75 * np.clip(normals @ key, 0, None) + 0.3 * np.clip(normals @ fill, 0, None)
    sky = 0.12 * np.clip(normals[:, 2], 0, None)
    light = ambient + light_strength * (diffuse + sky)
    return np.clip(light[:, None] * color[None, :], 0.0, 1.0)


def render_mesh(
    mesh: trimesh.Trimesh,
    *,
    size: int = 64,
    azimuth_deg: float = 30.0,
    elevation_deg: float = 20.0,
    fov_deg: float | None = 30.0,
    frame_radius: float = 0.8,
    ambient: float = 0.22,
    light_strength: float = 1.0,
    color: Sequence[float] | None = None,
    supersample: int = 2,
) -> np.ndarray:
    """Render `mesh` (unit-cube coordinates, z up) to `uint8 [size, size, 3]` RGB on black.

    The camera orbits the unit-cube centre at `azimuth_deg` / `elevation_deg`
    (`fov_deg=None`: orthographic) and frames a sphere of `frame_radius`, so objects keep
    their relative size. Faces are flat-shaded (Lambert key + fill + ambient, lights fixed
    to the camera), edges anti-aliased by `supersample`^2 samples and premultiplied on black.
    """
    if size < 1 or supersample < 1:
        raise ValueError(f"size and supersample must be >= 1, got {size}, {supersample}")
    rgb = np.asarray(DEFAULT_COLOR if color is None else color, dtype=np.float64)
    if rgb.shape != (3,):
        raise ValueError(f"color must be 3 floats in [0, 1], got {color!r}")
    cam = OrbitCamera(azimuth_deg, elevation_deg, fov_deg, frame_radius)
    width = size * supersample
    image = np.zeros((width * width, 3), dtype=np.float64)
    if mesh is not None and len(mesh.faces) > 0:
        tri = np.asarray(mesh.vertices, dtype=np.float64)[np.asarray(mesh.faces)]
        if not np.isfinite(tri).all():
            raise ValueError("render_mesh: the mesh has non-finite vertices")
        screen = cam.project(tri.reshape(-1, 3), width).reshape(-1, 3, 3)
        visible = (screen[:, :, 2] > 1e-6).all(axis=1)
        screen, tri = screen[visible], tri[visible]
        front = zbuffer(*covered_pixels(screen, width), width).ravel()
        drawn = front >= 0
        image[drawn] = _face_shades(tri, cam, rgb, ambient, light_strength)[front[drawn]]
    image = image.reshape(size, supersample, size, supersample, 3).mean(axis=(1, 3))
    return np.round(image * 255.0).astype(np.uint8)


def view_azimuths(n_views: int, seed: int | None = None, jitter_deg: float = 10.0) -> np.ndarray:
    """`n_views` evenly spaced azimuths (degrees), rotated and jittered by `seed`."""
    if n_views < 1:
        raise ValueError(f"n_views must be >= 1, got {n_views}")
    base = np.arange(n_views) * 360.0 / n_views
    if seed is None:
        return base
    rng = np.random.default_rng(seed)
    offset = rng.uniform(0.0, 360.0)
    return (base + offset + rng.uniform(-jitter_deg, jitter_deg, n_views)) % 360.0


def render_views(
    mesh: trimesh.Trimesh,
    n_views: int = 6,
    size: int = 64,
    elevation_deg: float = 20.0,
    seed: int | None = 0,
    **kwargs,
) -> list[np.ndarray]:
    """Renders from `n_views` evenly spaced azimuths (jittered by `seed`; None: exact, from 0).

    Extra keyword arguments go to `render_mesh` (e.g. `color`, `fov_deg`).
    """
    return [
        render_mesh(mesh, size=size, azimuth_deg=float(az), elevation_deg=elevation_deg, **kwargs)
        for az in view_azimuths(n_views, seed)
    ]
