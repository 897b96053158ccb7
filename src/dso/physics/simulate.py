"""Step the model from rest and measure the final pose, bounded in steps and wall time.

No SIGALRM (main thread only, breaks under pools and Ray, docs/oracle.md §Timeouts): the loop itself
checks the wall clock between chunks of steps. Early stop (accurate preset): "fallen" once the tilt
passes `fallen_deg`, "settled" once the body has been slow and its tilt unchanged for a window.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from dso.physics._mujoco import mujoco

CHECK_EVERY_S = 0.05  # simulated seconds between checks (one chunk of steps)
SETTLE_WINDOW_S = 0.5  # the body must stay settled this long
SETTLE_MIN_S = 1.0  # never declare "settled" before this simulated time
SETTLE_OMEGA = 0.02  # rad/s
SETTLE_SPEED = 0.005  # m/s (the object is ~1 m across)
SETTLE_TILT_DEG = 0.05  # tilt range allowed across the window


class SimulationError(RuntimeError):
    """The simulation could not give an answer (timeout or numerical divergence)."""


@dataclass
class SimOutcome:
    """Final state of one rollout. Angles in degrees; quaternion (w, x, y, z)."""

    tilt_deg: float
    dso_angle_deg: float
    final_pos: list[float]
    final_quat: list[float]
    sim_seconds: float
    stop_reason: str  # "fallen" | "settled" | "horizon" | "static" (no stepping needed)
    frames: list[np.ndarray] = field(default_factory=list)  # qpos snapshots when recorded


def tilt_deg(quat: np.ndarray) -> float:
    """Angle of the body's up axis from vertical: acos(R_zz) in degrees."""
    w, x, y, z = (float(q) for q in quat)
    norm = w * w + x * x + y * y + z * z
    r_zz = 1.0 - 2.0 * (x * x + y * y) / norm
    return math.degrees(math.acos(min(1.0, max(-1.0, r_zz))))


def dso_angle_deg(quat: np.ndarray) -> float:
    """The original release's angle, 2*acos(w) in degrees (total rotation, yaw included)."""
    w = float(quat[0]) / float(np.linalg.norm(quat))
    return math.degrees(2.0 * math.acos(min(1.0, max(-1.0, w))))


def _diverged(data: mujoco.MjData) -> bool:
    bad = data.warning[mujoco.mjtWarning.mjWARN_BADQACC].number > 0
    return bool(bad) or not bool(np.all(np.isfinite(data.qpos)))


class _SettleDetector:
    def __init__(self, samples: int) -> None:
        self.window: deque[tuple[float, float, float]] = deque(maxlen=samples)

    def settled(self, t: float, tilt: float, data: mujoco.MjData) -> bool:
        speed = float(np.linalg.norm(data.qvel[:3]))
        omega = float(np.linalg.norm(data.qvel[3:6]))
        self.window.append((tilt, speed, omega))
        if t < SETTLE_MIN_S or len(self.window) < self.window.maxlen:
            return False
        tilts = [s[0] for s in self.window]
        return (max(s[1] for s in self.window) < SETTLE_SPEED
                and max(s[2] for s in self.window) < SETTLE_OMEGA
                and max(tilts) - min(tilts) < SETTLE_TILT_DEG)


def simulate(model: mujoco.MjModel, *, horizon_s: float, early_stop: bool, fallen_deg: float,
             max_wall_s: float, record_every_s: float = 0.0,
             start: tuple[np.ndarray, float] | None = None) -> SimOutcome:
    """Roll out from rest until the horizon (or an early stop); raise SimulationError on trouble.

    `start` = (quaternion w, x, y, z; height of the body origin) poses the body at rest there
    instead of upright on the ground."""
    data = mujoco.MjData(model)
    if start is not None:
        data.qpos[3:7], data.qpos[2] = start[0], start[1]
    dt = float(model.opt.timestep)
    chunk = max(1, round(CHECK_EVERY_S / dt))
    total = max(1, math.ceil(horizon_s / dt - 1e-9))
    detector = _SettleDetector(round(SETTLE_WINDOW_S / (chunk * dt)) + 1)
    record_chunks = max(1, round(record_every_s / (chunk * dt))) if record_every_s > 0 else 0
    frames = [data.qpos.copy()] if record_chunks else []
    began = time.perf_counter()
    steps, reason, n_chunk = 0, "horizon", 0
    while steps < total:
        n = min(chunk, total - steps)
        mujoco.mj_step(model, data, nstep=n)
        steps += n
        n_chunk += 1
        if _diverged(data):
            raise SimulationError(f"simulation diverged at t={steps * dt:.3f} s")
        if record_chunks and n_chunk % record_chunks == 0:
            frames.append(data.qpos.copy())
        if time.perf_counter() - began > max_wall_s:
            raise SimulationError(f"wall-time limit of {max_wall_s:g} s reached after "
                                  f"{steps * dt:.2f} simulated s")
        if early_stop:
            tilt = tilt_deg(data.qpos[3:7])
            if tilt > fallen_deg:
                reason = "fallen"
                break
            if detector.settled(steps * dt, tilt, data):
                reason = "settled"
                break
    if record_chunks and not np.array_equal(frames[-1], data.qpos):
        frames.append(data.qpos.copy())
    quat = data.qpos[3:7].copy()
    return SimOutcome(tilt_deg(quat), dso_angle_deg(quat), data.qpos[:3].tolist(),
                      quat.tolist(), steps * dt, reason, frames)
