"""Exact least distance between two triangle surfaces near each other (docs/oracle.md, Pieces).

The least distance between two triangles is zero where one's edge pierces the other, and
otherwise it is attained by a corner of one and the other triangle, or by an edge of each.
A corner's nearest point on the other triangle is inside it (the distance to its plane) or on
its boundary, where an edge pair from that corner gives at most that distance; so the segment
distances carry every boundary case and no point-to-triangle search is needed.
`surface_gap` takes all three over the face pairs that can be closer than a bound, so its
answer is exact below that bound; only pairs whose centroids are near are looked at, so the
cost follows the region where the surfaces come close, not their size.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

MAX_PAIRS = 400_000  # beyond this many face pairs the caller measures another way


def _rows_dot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, y)


def segment_distances(p1: np.ndarray, q1: np.ndarray, p2: np.ndarray,
                      q2: np.ndarray) -> np.ndarray:
    """Least distance between segments p1-q1 and p2-q2, row by row ((N, 3) each): the closest
    points of the two lines, clamped to the segments (Ericson, Real-Time Collision Detection,
    5.1.9); zero-length segments are points."""
    d1, d2, r = q1 - p1, q2 - p2, p1 - p2
    a, e = _rows_dot(d1, d1), _rows_dot(d2, d2)
    b, c, f = _rows_dot(d1, d2), _rows_dot(d1, r), _rows_dot(d2, r)
    tiny = 1e-300
    point_1, point_2 = a <= tiny, e <= tiny
    denom = a * e - b * b
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(denom > 1e-12 * a * e, np.clip((b * f - c * e) / denom, 0.0, 1.0), 0.0)
        t = (b * s + f) / e
        s = np.where(t < 0.0, np.clip(-c / a, 0.0, 1.0),
                     np.where(t > 1.0, np.clip((b - c) / a, 0.0, 1.0), s))
        s = np.where(point_2, np.clip(-c / a, 0.0, 1.0), s)  # the second is a point
        t = np.where(point_1, np.clip(f / e, 0.0, 1.0), np.clip(t, 0.0, 1.0))
    s = np.where(point_1, 0.0, s)
    t = np.where(point_2, 0.0, t)
    gap = p1 + d1 * s[:, None] - p2 - d2 * t[:, None]
    return np.sqrt(_rows_dot(gap, gap))


# A face thinner than this (twice its area over its longest edge squared) has no trustworthy
# plane: its corner-to-face and piercing terms are skipped, and its edges stand for it.
THIN = 1e-8


def _planes(triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each triangle's normal, whether it is at least THIN: only then is its plane used)."""
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    normal = np.cross(b - a, c - a)
    longest = np.maximum.reduce([_rows_dot(e, e) for e in (b - a, c - b, a - c)])
    return normal, _rows_dot(normal, normal) > (THIN * longest) ** 2


def _inside(points: np.ndarray, triangles: np.ndarray, normal: np.ndarray,
            thick: np.ndarray) -> np.ndarray:
    """Whether each point's foot on its triangle's plane falls inside the triangle (False for a
    triangle thinner than THIN), from `_planes`."""
    inside = thick.copy()
    for k in range(3):  # on the inner side of every edge
        p, q = triangles[:, k], triangles[:, (k + 1) % 3]
        inside &= _rows_dot(np.cross(q - p, points - p), normal) >= 0.0
    return inside


def _to_planes(points: np.ndarray, triangles: np.ndarray, normal: np.ndarray,
               thick: np.ndarray) -> np.ndarray:
    """Per row, the distance from the point to its triangle where the nearest point is inside
    the triangle (the distance to its plane), else inf: a nearest point on the boundary is
    within a segment distance the edge pairs give."""
    inside = _inside(points, triangles, normal, thick)
    out = np.full(len(points), np.inf)
    n = normal[inside]
    out[inside] = np.abs(_rows_dot(n, points[inside] - triangles[inside, 0])) / np.sqrt(
        _rows_dot(n, n))
    return out


def _piercing(edges: tuple[np.ndarray, np.ndarray], triangles: np.ndarray, normal: np.ndarray,
              thick: np.ndarray) -> np.ndarray:
    """Per row, 0 where the edge passes through the triangle (it crosses the plane inside the
    triangle), else inf."""
    p, q = edges
    sp = _rows_dot(normal, p - triangles[:, 0])
    sq = _rows_dot(normal, q - triangles[:, 0])
    crossing = np.flatnonzero(sp * sq < 0.0)
    out = np.full(len(p), np.inf)
    if len(crossing):
        t = sp[crossing] / (sp[crossing] - sq[crossing])
        x = p[crossing] + (q[crossing] - p[crossing]) * t[:, None]
        out[crossing[_inside(x, triangles[crossing], normal[crossing], thick[crossing])]] = 0.0
    return out


def triangle_distances(ta: np.ndarray, tb: np.ndarray) -> np.ndarray:
    """Least distance between triangles ta[i] and tb[i] ((N, 3, 3) each), each of the three
    kinds of candidate taken in one batched call."""
    n = len(ta)
    nxt = [1, 2, 0]
    # the 6 corners of each pair against the other triangle; the 6 edges from them, piercing it
    corners = np.concatenate([ta.transpose(1, 0, 2), tb.transpose(1, 0, 2)]).reshape(-1, 3)
    ends = np.concatenate([ta[:, nxt].transpose(1, 0, 2),
                           tb[:, nxt].transpose(1, 0, 2)]).reshape(-1, 3)
    other = np.concatenate([np.tile(tb, (3, 1, 1)), np.tile(ta, (3, 1, 1))])
    planes = _planes(other)
    best = np.minimum(_to_planes(corners, other, *planes),
                      _piercing((corners, ends), other, *planes))
    # the 9 edge pairs: edge i of ta against edge j of tb
    i, j = np.repeat(np.arange(3), 3), np.tile(np.arange(3), 3)

    def rows(t: np.ndarray, k: np.ndarray) -> np.ndarray:
        return t[:, k].transpose(1, 0, 2).reshape(-1, 3)

    edges = segment_distances(rows(ta, i), rows(ta, (i + 1) % 3),
                              rows(tb, j), rows(tb, (j + 1) % 3))
    return np.minimum(best.reshape(6, n).min(axis=0), edges.reshape(9, n).min(axis=0))


def _centres(triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each triangle's centroid and the farthest distance from it to a point of the triangle
    (corner by corner: numpy reduces a short middle axis slowly)."""
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    centre = (a + b + c) / 3.0
    offsets = [p - centre for p in (a, b, c)]
    reach = np.maximum.reduce([_rows_dot(d, d) for d in offsets])
    return centre, np.sqrt(reach)


def _boxes(triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each triangle's bounding box: (lowest corner, highest corner), (N, 3) each."""
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    return np.minimum(np.minimum(a, b), c), np.maximum(np.maximum(a, b), c)


def surface_gap(ta: np.ndarray, tb: np.ndarray, bound: float) -> float | None:
    """The least distance between the surfaces made of triangles `ta` and `tb` ((N, 3, 3) and
    (M, 3, 3)) where it is below `bound`, else some value >= `bound`; None when there are too
    many candidate pairs or a distance comes out NaN (a NaN corner)."""
    if not len(ta) or not len(tb):
        return np.inf
    ca, ra = _centres(ta)
    cb, rb = _centres(tb)
    tree = {"balanced_tree": False, "compact_nodes": False}  # built for one query
    tree_a, tree_b = cKDTree(ca, **tree), cKDTree(cb, **tree)
    radius = bound + ra.max() + rb.max()  # one large face widens it for all: count first
    if tree_a.count_neighbors(tree_b, radius) > MAX_PAIRS:
        return None
    pairs = tree_a.sparse_distance_matrix(tree_b, radius, output_type="ndarray")
    pairs = pairs[pairs["v"] < bound + ra[pairs["i"]] + rb[pairs["j"]]]
    # the distance between two triangles' bounding boxes is at most theirs
    (lo_a, hi_a), (lo_b, hi_b) = _boxes(ta), _boxes(tb)
    i, j = pairs["i"], pairs["j"]
    apart = np.maximum(lo_a[i] - hi_b[j], lo_b[j] - hi_a[i])
    near = (np.maximum(apart, 0.0) ** 2).sum(axis=1) < bound * bound
    if not near.any():
        return np.inf
    distance = triangle_distances(ta[i[near]], tb[j[near]])
    return float(distance.min()) if not np.isnan(distance).any() else None


def winding_number(point: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> float:
    """How many times the closed, consistently oriented surface (`vertices`, `faces`) winds
    around `point`: +-1 inside, 0 outside; NaN when the point or a corner of a face the plane
    below crosses is not finite. Exact for a point away from the surface (a point on it gets
    either answer).

    The surface is cut by the plane x = point[0], which it crosses in closed oriented curves,
    and the answer is their winding number around the point in that plane: the sum of the
    angles their segments subtend, over 2 pi. Only faces crossing the plane are looked at.
    A vertex exactly on the plane counts as on its lower side, and each edge's crossing is
    computed from its lower-numbered end, so faces that share an edge share its crossing to the
    bit and the curves close (docs/oracle.md, Pieces).
    """
    point = np.asarray(point, dtype=np.float64)
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces)
    above = v[:, 0] > point[0]
    first = above[f[:, 0]]  # the faces the plane crosses (column by column: fast)
    f = f[(first != above[f[:, 1]]) | (first != above[f[:, 2]])]
    if not np.isfinite(point).all() or not np.isfinite(v[f]).all():
        return float("nan")
    if not len(f):
        return 0.0
    up = above[f]
    # walking a -> b -> c -> a, each face goes up across one edge and down across another:
    # its segment in the plane runs from the first crossing to the second
    rise, fall = np.empty((len(f), 2)), np.empty((len(f), 2))
    for k in range(3):
        here, there = up[:, k], up[:, (k + 1) % 3]
        for out, rows in ((rise, ~here & there), (fall, here & ~there)):
            rows = np.flatnonzero(rows)
            i, j = f[rows, k], f[rows, (k + 1) % 3]
            lo, hi = np.minimum(i, j), np.maximum(i, j)  # the same numbers from either face
            t = (point[0] - v[lo, 0]) / (v[hi, 0] - v[lo, 0])
            out[rows] = v[lo, 1:] + t[:, None] * (v[hi, 1:] - v[lo, 1:]) - point[1:]
    angle = np.arctan2(fall[:, 0] * rise[:, 1] - fall[:, 1] * rise[:, 0],
                       rise[:, 0] * fall[:, 0] + rise[:, 1] * fall[:, 1])
    return float(angle.sum() / (2.0 * np.pi))
