"""A small vectorised z-buffer rasteriser in pure numpy (no GL, runs anywhere)."""

from __future__ import annotations

import numpy as np


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, rank) for `counts[i]` consecutive items owned by each i."""
    owner = np.repeat(np.arange(len(counts)), counts)
    start = np.cumsum(counts) - counts
    return owner, np.arange(len(owner)) - start[owner]


def covered_pixels(
    screen: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every (triangle, pixel) pair whose pixel centre lies inside the projected triangle.

    `screen` is `[F, 3, 3]`: pixel x, pixel y and depth of each corner. Scan-converts row
    by row (no wasted bounding-box candidates), edges inclusive so shared edges leave no gaps.
    Returns `(tri_id, pixel_x, pixel_y, depth)` with depth interpolated at the pixel centre.
    """
    x, y, z = screen[:, :, 0], screen[:, :, 1], screen[:, :, 2]
    ex, ey = x[:, [1, 2, 0]] - x, y[:, [1, 2, 0]] - y  # edges a->b, b->c, c->a
    area = ex[:, 0] * ey[:, 2] * -1 + ey[:, 0] * ex[:, 2]
    keep = np.abs(area) > 1e-12
    x, y, z, ex, ey, area = x[keep], y[keep], z[keep], ex[keep], ey[keep], area[keep]
    ids = np.nonzero(keep)[0]
    row0 = np.clip(np.ceil(y.min(axis=1) - 0.5).astype(np.int64), 0, width)
    row1 = np.clip(np.floor(y.max(axis=1) - 0.5).astype(np.int64), -1, width - 1)
    t, k = _expand(np.maximum(row1 - row0 + 1, 0))
    cy = (row0[t] + k + 0.5)[:, None]
    y0, dy = y[t], ey[t]
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (cy - y0) / dy
        cross = x[t] + s * ex[t]
    valid = (s >= 0) & (s <= 1) & (dy != 0)
    left = np.where(valid, cross, np.inf).min(axis=1)
    right = np.where(valid, cross, -np.inf).max(axis=1)
    col0 = np.clip(np.ceil(left - 0.5), 0, width).astype(np.int64)
    col1 = np.clip(np.floor(right - 0.5), -1, width - 1).astype(np.int64)
    span = np.where(np.isfinite(left), np.maximum(col1 - col0 + 1, 0), 0)
    r, j = _expand(span)
    tri = t[r]
    px, py = col0[r] + j, (cy[r, 0] - 0.5).astype(np.int64)
    # depth from the plane through the three corners: z = z0 + gx (x - x0) + gy (y - y0)
    ez = z[:, [1, 2, 0]] - z
    gx = (ez[:, 0] * -ey[:, 2] + ey[:, 0] * ez[:, 2]) / area
    gy = (ex[:, 0] * ez[:, 2] * -1 + ez[:, 0] * ex[:, 2]) / area
    depth = z[tri, 0] + gx[tri] * (px + 0.5 - x[tri, 0]) + gy[tri] * (py + 0.5 - y[tri, 0])
    return ids[tri], px, py, depth


def zbuffer(
    tri_id: np.ndarray, px: np.ndarray, py: np.ndarray, depth: np.ndarray, width: int
) -> np.ndarray:
    """Index of the nearest triangle at each pixel (`-1` where nothing is drawn), `[W, W]`."""
    front = np.full(width * width, -1, dtype=np.int64)
    if len(tri_id) == 0:
        return front.reshape(width, width)
    pix = py * width + px
    order = np.lexsort((depth, pix))
    pix_sorted = pix[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = pix_sorted[1:] != pix_sorted[:-1]
    front[pix_sorted[first]] = tri_id[order[first]]
    return front.reshape(width, width)
