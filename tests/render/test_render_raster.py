"""The scan converter against a brute-force per-pixel reference."""

import numpy as np

from dso.render.raster import covered_pixels, zbuffer


def _brute(screen: np.ndarray, width: int) -> dict:
    out = {}
    for i, tri in enumerate(screen):
        a, b, c = tri[:, :2]
        for x in range(width):
            for y in range(width):
                p = (x + 0.5, y + 0.5)

                def e(p0, p1, p=p):
                    return (p1[0] - p0[0]) * (p[1] - p0[1]) - (p1[1] - p0[1]) * (p[0] - p0[0])

                w = np.array([e(b, c), e(c, a), e(a, b)])
                if w.sum() != 0 and (w.min() >= 0 or w.max() <= 0):
                    out[(i, x, y)] = float(w @ tri[:, 2] / w.sum())
    return out


def test_scan_conversion_matches_brute_force_pixel_tests():
    rng = np.random.default_rng(1)
    screen = rng.uniform(-4, 20, (40, 3, 3))
    screen[:, :, 2] = rng.uniform(1, 2, (40, 3))
    tri, px, py, depth = covered_pixels(screen, 16)
    ref = _brute(screen, 16)
    keys = zip(tri.tolist(), px.tolist(), py.tolist(), strict=True)
    got = dict(zip(keys, depth.tolist(), strict=True))
    assert got.keys() == ref.keys()
    assert max(abs(got[k] - ref[k]) for k in ref) < 1e-9


def test_zbuffer_keeps_the_nearest_triangle():
    near = [[0, 0, 1.0], [10, 0, 1.0], [0, 10, 1.0]]
    far = [[0, 0, 2.0], [10, 0, 2.0], [0, 10, 2.0]]
    screen = np.array([far, near], dtype=float)
    front = zbuffer(*covered_pixels(screen, 8), 8)
    assert front[2, 2] == 1 and front[7, 7] == -1


def test_degenerate_and_offscreen_triangles_draw_nothing():
    screen = np.array([[[1, 1, 1], [2, 2, 1], [3, 3, 1]],
                       [[-9, -9, 1], [-8, -9, 1], [-9, -8, 1]]], dtype=float)
    tri, *_ = covered_pixels(screen, 8)
    assert len(tri) == 0
