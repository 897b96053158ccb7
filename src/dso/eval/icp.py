"""Rigid point-to-point ICP and the evaluation protocols that set it (docs/method.md §Evaluation).

Two named protocols:

- ``"paper"`` (the default): the release's evaluation, Open3D's point-to-point ICP with a
  maximum correspondence distance of 0.02 in the unit cube (farther pairs are left out of the
  fit), fitted on every sampled point, at most 50 iterations, stopping when the fitness (share
  of points with a pair) and the inlier RMSE both change by less than 1e-6.
- ``"dso-v1"``: dso's first protocol, kept to reproduce old reports: every point paired however
  far (no cap), fitted on min(1000, n // 4) of the samples, at most 50 iterations, stopping when
  the mean pair distance improves by less than 1e-5.

Both start from the identity: the prediction and the ground truth are each scaled into the unit
cube by their bounding box and centred on its centre before ICP (`dso.eval.metrics`), so an
output that matches the ground truth starts within the 0.02 cap of it. Numpy + scipy only
(cKDTree pairs, Kabsch/Umeyama fit without scale or reflection); no Open3D.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

__all__ = [
    "DEFAULT_PROTOCOL",
    "PROTOCOLS",
    "IcpResult",
    "IcpSettings",
    "icp_align",
    "icp_fit",
    "icp_settings",
    "kabsch",
]


@dataclass(frozen=True)
class IcpSettings:
    """How a prediction's points are aligned to the ground truth's (lengths in the unit cube).

    max_correspondence: pairs farther apart than this are ignored in the fit (None: no cap).
    max_iterations: at most this many fits.
    fit_points / fit_share: fit on the first min(fit_points, fit_share * n) of the n samples
    (samples come in random order; fit_points None: no count cap), then move all of them.
    relative_fitness / relative_rmse: stop when fitness and inlier RMSE both change by less than
    these between iterations (Open3D's rule, as in the release).
    tolerance: when set, stop instead once the mean pair distance improves by less than this
    (dso-v1's rule, for uncapped pairs only).
    """

    max_correspondence: float | None = 0.02
    max_iterations: int = 50
    fit_points: int | None = None
    fit_share: float = 1.0
    relative_fitness: float = 1e-6
    relative_rmse: float = 1e-6
    tolerance: float | None = None

    def __post_init__(self) -> None:
        if self.max_correspondence is not None and not self.max_correspondence > 0:
            raise ValueError(f"max_correspondence must be > 0 or None, got "
                             f"{self.max_correspondence}")
        if self.max_iterations < 0:
            raise ValueError(f"max_iterations must be >= 0, got {self.max_iterations}")
        if self.fit_points is not None and self.fit_points < 3:
            raise ValueError(f"fit_points must be >= 3 or None, got {self.fit_points}")
        if not 0.0 < self.fit_share <= 1.0:
            raise ValueError(f"fit_share must be in (0, 1], got {self.fit_share}")
        if self.tolerance is not None and self.max_correspondence is not None:
            raise ValueError("tolerance (dso-v1's stopping rule) pairs every point: it needs "
                             "max_correspondence=None")

    def fit_count(self, n: int) -> int:
        """How many of n samples the fit uses (at least 3, at most n)."""
        k = int(n * self.fit_share) if self.fit_share < 1.0 else n
        if self.fit_points is not None:
            k = min(k, self.fit_points)
        return max(3, min(k, n))


PROTOCOLS: dict[str, IcpSettings] = {
    "paper": IcpSettings(),
    "dso-v1": IcpSettings(max_correspondence=None, fit_points=1000, fit_share=0.25,
                          tolerance=1e-5),
}
DEFAULT_PROTOCOL = "paper"


def icp_settings(protocol: str | IcpSettings = DEFAULT_PROTOCOL) -> IcpSettings:
    """The settings of a named protocol ("paper", "dso-v1"), or `protocol` itself."""
    if isinstance(protocol, IcpSettings):
        return protocol
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown ICP protocol {protocol!r}; choose one of "
                         f"{', '.join(PROTOCOLS)}")
    return PROTOCOLS[protocol]


@dataclass(frozen=True)
class IcpResult:
    """transform: 4x4 moving the source onto the target; moved: the transformed source;
    fitness: share of source points paired (within the cap); inlier_rmse: RMSE of those pairs;
    iterations: fits done."""

    transform: np.ndarray
    moved: np.ndarray
    fitness: float
    inlier_rmse: float
    iterations: int


def kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Proper rigid 4x4 transform minimising sum |R src + t - dst|^2 (no scale, no reflection)."""
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    h = (src - mu_s).T @ (dst - mu_d)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    rot = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    out = np.eye(4)
    out[:3, :3] = rot
    out[:3, 3] = mu_d - rot @ mu_s
    return out


def _apply(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    return points @ transform[:3, :3].T + transform[:3, 3]


def _legacy(moved: np.ndarray, tree: cKDTree, cfg: IcpSettings, workers: int) -> IcpResult:
    """dso-v1: every point paired; stop when the mean distance improves by < tolerance."""
    total = np.eye(4)
    previous, done = np.inf, 0
    dist = np.zeros(len(moved))
    for _ in range(cfg.max_iterations):
        dist, idx = tree.query(moved, k=1, workers=workers)
        cost = float(dist.mean())
        if previous - cost < cfg.tolerance:
            break
        previous = cost
        step = kabsch(moved, tree.data[idx])
        moved = _apply(moved, step)
        total = step @ total
        done += 1
    rmse = float(np.sqrt(np.mean(dist ** 2))) if len(dist) else 0.0
    return IcpResult(total, moved, 1.0, rmse, done)


def _pairs(moved: np.ndarray, tree: cKDTree, cap: float, workers: int):
    """(inlier mask, target index, fitness, inlier RMSE) of the nearest pairs within `cap`."""
    dist, idx = tree.query(moved, k=1, distance_upper_bound=cap, workers=workers)
    inliers = np.isfinite(dist)
    n_in = int(inliers.sum())
    rmse = float(np.sqrt(np.mean(dist[inliers] ** 2))) if n_in else 0.0
    return inliers, idx, n_in / len(moved), rmse


def icp_fit(
    source: np.ndarray,
    target: np.ndarray | cKDTree,
    icp: str | IcpSettings = DEFAULT_PROTOCOL,
    *,
    workers: int = -1,
) -> IcpResult:
    """Rigid point-to-point ICP moving `source` (N,3) onto `target` ((M,3) or its cKDTree),
    starting from the identity, with the settings of `icp` (a protocol name or IcpSettings).

    Each iteration pairs every source point with its nearest target point, drops pairs farther
    apart than `max_correspondence`, and solves the best rotation + translation of the rest
    (Kabsch). Fewer than 3 pairs: the alignment stays where it is.
    """
    cfg = icp_settings(icp)
    tree = target if isinstance(target, cKDTree) else cKDTree(np.asarray(target, dtype=np.float64))
    moved = np.asarray(source, dtype=np.float64).copy()
    if moved.ndim != 2 or moved.shape[1] != 3 or len(moved) == 0:
        raise ValueError(f"source must be (N, 3) with N >= 1, got {moved.shape}")
    if cfg.tolerance is not None:
        return _legacy(moved, tree, cfg, workers)
    cap = np.inf if cfg.max_correspondence is None else float(cfg.max_correspondence)
    total = np.eye(4)
    inliers, idx, fitness, rmse = _pairs(moved, tree, cap, workers)
    done = 0
    for _ in range(cfg.max_iterations):
        if inliers.sum() < 3:
            break
        step = kabsch(moved[inliers], tree.data[idx[inliers]])
        moved = _apply(moved, step)
        total = step @ total
        done += 1
        last = fitness, rmse
        inliers, idx, fitness, rmse = _pairs(moved, tree, cap, workers)
        if (abs(fitness - last[0]) < cfg.relative_fitness
                and abs(rmse - last[1]) < cfg.relative_rmse):
            break
    return IcpResult(total, moved, fitness, rmse, done)


def icp_align(
    source: np.ndarray,
    target: np.ndarray | cKDTree,
    icp: str | IcpSettings = DEFAULT_PROTOCOL,
    *,
    max_iterations: int | None = None,
    tolerance: float | None = None,
    workers: int = -1,
) -> tuple[np.ndarray, np.ndarray]:
    """(4x4 transform, transformed source) of `icp_fit`; `max_iterations` / `tolerance`
    override the protocol's (a tolerance switches to dso-v1's stopping rule)."""
    cfg = icp_settings(icp)
    if max_iterations is not None:
        cfg = dataclasses.replace(cfg, max_iterations=max_iterations)
    if tolerance is not None:
        cfg = dataclasses.replace(cfg, tolerance=tolerance)
    result = icp_fit(source, target, cfg, workers=workers)
    return result.transform, result.moved
