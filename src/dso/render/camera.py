"""An orbit camera around the unit-cube centre, z up."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OrbitCamera:
    """Looks at the origin from `azimuth_deg` (around z, from +x) and `elevation_deg`.

    `fov_deg=None` is orthographic. The camera frames a sphere of radius `frame_radius` about
    the origin to fill the image, so every object is framed the same way whatever its size.
    """

    azimuth_deg: float = 30.0
    elevation_deg: float = 20.0
    fov_deg: float | None = 30.0
    frame_radius: float = 0.8

    def __post_init__(self) -> None:
        if self.fov_deg is not None and not 0.0 < self.fov_deg < 170.0:
            raise ValueError(f"fov_deg must be in (0, 170) or None, got {self.fov_deg}")
        if not self.frame_radius > 0:
            raise ValueError(f"frame_radius must be positive, got {self.frame_radius}")
        if not -90.0 < self.elevation_deg < 90.0:
            raise ValueError(f"elevation_deg must be in (-90, 90), got {self.elevation_deg}")

    @property
    def distance(self) -> float:
        """Distance from the origin; far enough that the framed sphere just fits."""
        if self.fov_deg is None:
            return 4.0 * self.frame_radius
        return self.frame_radius / np.sin(np.radians(self.fov_deg) / 2.0)

    def basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(eye, right, up, forward) in world coordinates."""
        az, el = np.radians(self.azimuth_deg), np.radians(self.elevation_deg)
        direction = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        eye = self.distance * direction
        forward = -direction
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        return eye, right, up, forward

    def project(self, points: np.ndarray, width: int) -> np.ndarray:
        """World points `[N, 3]` -> `[N, 3]` of (pixel x, pixel y from the top, depth)."""
        eye, right, up, forward = self.basis()
        rel = np.asarray(points, dtype=np.float64) - eye
        x, y, depth = rel @ right, rel @ up, rel @ forward
        if self.fov_deg is None:
            scale = np.full_like(depth, 1.0 / self.frame_radius)
        else:
            scale = 1.0 / (np.maximum(depth, 1e-6) * np.tan(np.radians(self.fov_deg) / 2.0))
        ndc_x, ndc_y = x * scale, y * scale
        return np.stack([(ndc_x + 1.0) * 0.5 * width, (1.0 - ndc_y) * 0.5 * width, depth], axis=1)
