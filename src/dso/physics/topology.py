"""Whether a triangle soup bounds a solid: the condition for exact volume integration."""

from __future__ import annotations

import numpy as np

CLOSED_KEY = "dso_closed_oriented"  # Trimesh.metadata key set by loading.prepare


def is_closed_oriented(faces: np.ndarray) -> bool:
    """True when every directed edge (a, b) is balanced by a reverse edge (b, a).

    This is exactly the condition under which the divergence theorem gives the enclosed volume,
    and it admits non-manifold edges (e.g. two cubes sharing an edge), unlike `is_watertight`.
    """
    f = np.asarray(faces, dtype=np.int64)
    if len(f) == 0:
        return False
    a = f.reshape(-1)
    b = np.roll(f, -1, axis=1).reshape(-1)
    n = int(f.max()) + 1
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keys = lo * n + hi
    sign = np.where(a < b, 1, -1)
    _, inverse = np.unique(keys, return_inverse=True)
    return bool(np.all(np.bincount(inverse, weights=sign) == 0))
