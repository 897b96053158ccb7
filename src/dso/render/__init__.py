"""Pure-numpy software renderer (no GL): meshes to `uint8 H x W x 3` RGB on black."""

from dso.render.camera import OrbitCamera
from dso.render.shade import DEFAULT_COLOR, render_mesh, render_views, view_azimuths

__all__ = ["DEFAULT_COLOR", "OrbitCamera", "render_mesh", "render_views", "view_azimuths"]
