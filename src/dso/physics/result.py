"""The per-mesh answer of the oracle, JSON-safe."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

# Bump whenever a change can alter a verdict (labels cache on it).
# 2.0: pieces (an object of two or more significant pieces is unstable; debris is dropped).
ORACLE_VERSION = "2.0"


@dataclass
class CheckResult:
    """One mesh's verdict. Angles in degrees, lengths in the normalised frame (max |x| = 0.5).

    status is "ok" or "error"; on error `error` says why, `error_kind` names the class
    (missing, unparsable, empty, point_cloud, non_finite, flat, degenerate, too_many_faces,
    unsupported, simulation, model, internal, crash) and the physical fields are None/NaN.
    """

    path: str | None = None
    status: str = "error"
    stable: bool | None = None
    tilt_deg: float = math.nan  # angle of the body's up axis from vertical at the end
    dso_angle_deg: float = math.nan  # the original release's 2*acos(w)
    mass_source: str | None = None  # mesh | repaired | voxel | hull | legacy
    seconds: float = 0.0  # wall time spent on this mesh
    sim_seconds: float = 0.0  # simulated time
    final_pos: list[float] | None = None
    final_quat: list[float] | None = None  # (w, x, y, z)
    com_margin: float | None = None  # > 0: COM inside the support polygon at the start
    topple_angle_deg: float | None = None  # < 0: COM outside
    error: str | None = None
    error_kind: str | None = None
    preset: str = "accurate"
    threshold_deg: float = 20.0
    stop_reason: str | None = None  # fallen | settled | horizon | static
    faces: int | None = None  # faces evaluated (after decimation)
    decimated: bool = False
    pieces: int | None = None  # significant pieces (None: not analysed, as in the dso preset)
    debris_pieces: int = 0  # pieces under the debris fraction, dropped before the simulation
    debris_fraction: float = 0.0  # their share of the volume
    reason: str | None = None  # why not stable: "tilt" | "pieces" | "perturbed"
    perturbed_deg: float | None = None  # largest final angle from the tilted starts (opt-in)
    oracle_version: str = ORACLE_VERSION

    @property
    def verdict(self) -> str:
        """One word for people: stable, FALLS, PIECES (not one piece) or ERROR."""
        if self.status != "ok":
            return "ERROR"
        if self.stable:
            return "stable"
        return "PIECES" if self.reason == "pieces" else "FALLS"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict (NaN and inf become None)."""
        return {key: _json_safe(value) for key, value in asdict(self).items()}


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        return _json_safe(value.item())
    return value
