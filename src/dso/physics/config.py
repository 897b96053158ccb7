"""Oracle settings: one typed config, two presets, validated up front."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dso.errors import UnknownNameError

PRESETS = ("accurate", "dso")
UP_AXES = ("auto", "z", "y")
# what `dso check DIR` picks up, and what the loader names when a file is of another format
MESH_SUFFIXES = (".obj", ".ply", ".stl", ".off", ".glb", ".gltf")
Y_UP_SUFFIXES = (".glb", ".gltf")  # glTF is y-up by its specification; up="auto" reads them so


@dataclass(frozen=True)
class OracleConfig:
    """Everything that decides a verdict. Build it with `OracleConfig.from_preset`.

    `accurate` (default): exact mass from the mesh, hull collision, dt 5 ms, early stop, verdict
    on the tilt of the up axis. Its `static_stop` settles at t = 0 an object that rests on a
    flat face (vertices coplanar to 1e-5) with its centre of mass more than 2 deg of toppling
    angle inside: such a body is in static equilibrium, and stepping it only confirms tilt 0.
    `accurate` also finds the object's pieces (`physics/pieces.py`): pieces under
    `debris_fraction` of the volume are dropped before the simulation, and an object of two or
    more significant pieces (surfaces `piece_gap` or more apart) is not sound: unstable.
    `dso`: the original release (MuJoCo legacy inertia on the whole mesh as one body, no
    pieces, dt 1 ms, the full 10 s, verdict on `2*acos(w)`), to compare with the paper.
    """

    preset: str = "accurate"
    up: str = "auto"  # "auto": .glb/.gltf paths y-up, everything else z-up | "z" | "y"
    threshold_deg: float = 20.0
    dt: float = 0.005
    horizon_s: float = 10.0
    early_stop: bool = True
    static_stop: bool = True  # (with early_stop) on a flat face, COM > 2 deg inside: no stepping
    inertia: str = "exact"  # "exact" (mesh, with fallback chain) | "legacy" (MuJoCo, full mesh)
    verdict_angle: str = "tilt"  # "tilt" = acos(R_zz) | "dso" = 2*acos(w)
    max_faces: int = 1_000_000
    on_too_many_faces: str = "decimate"  # | "refuse"
    max_wall_s: float = 60.0  # wall-clock bound on the simulation loop, per mesh
    # early stop: "fallen" past max(fallen_deg, threshold + 25). Not 45: random blobs were seen
    # to tip to 73 deg and roll back to rest at 18 deg (benchmarks/oracle.py).
    fallen_deg: float = 90.0
    density: float = 1000.0
    # collision hull: vertices moving it by less than this are dropped (0 = exact hull); the
    # ground contact at rest stays exact (physics/model.py)
    hull_tol: float = 0.0
    pieces: bool = True  # find pieces: drop debris, multi-piece objects are unstable
    piece_gap: float = 0.01  # surfaces this far apart (1% of the object's size) separate
    debris_fraction: float = 0.005  # pieces under this share of the volume are debris
    record_every_s: float = 0.0  # > 0 keeps poses for rendering
    # > 0 (opt-in): a stable verdict must also hold from starts tilted this much (degrees)
    # either way about x and about y, so that a body balanced on a point or an edge (an
    # unstable equilibrium nothing disturbs) falls; at most 2, which the static stop's margin
    # covers (docs/oracle.md, Known limitations)
    perturb_deg: float = 0.0

    @classmethod
    def from_preset(cls, preset: str = "accurate", **overrides: object) -> OracleConfig:
        """The preset's settings with `overrides` applied; raises ValueError if invalid."""
        if preset not in PRESETS:
            raise UnknownNameError("preset", preset, PRESETS)
        base = cls() if preset == "accurate" else cls(
            preset="dso", dt=0.001, early_stop=False, static_stop=False, inertia="legacy",
            verdict_angle="dso", pieces=False)
        config = dataclasses.replace(base, **overrides)
        config.validate()
        return config

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        checks = [
            (self.preset in PRESETS, f"preset must be one of {PRESETS}"),
            (self.up in UP_AXES, f"up must be one of {UP_AXES}"),
            (0.0 < self.threshold_deg < 180.0, "threshold_deg must be in (0, 180)"),
            (0.0 < self.dt <= 0.05, "dt must be in (0, 0.05] s"),
            (self.horizon_s > 0.0, "horizon_s must be > 0"),
            (self.inertia in ("exact", "legacy"), "inertia must be 'exact' or 'legacy'"),
            (self.verdict_angle in ("tilt", "dso"), "verdict_angle must be 'tilt' or 'dso'"),
            (self.max_faces >= 0, "max_faces must be >= 0 (0 = no cap)"),
            (self.on_too_many_faces in ("decimate", "refuse"),
             "on_too_many_faces must be 'decimate' or 'refuse'"),
            (self.max_wall_s > 0.0, "max_wall_s must be > 0"),
            (self.density > 0.0, "density must be > 0"),
            (0.0 <= self.hull_tol <= 0.01, "hull_tol must be in [0, 0.01]"),
            (0.0 < self.piece_gap < 0.5, "piece_gap must be in (0, 0.5)"),
            (0.0 <= self.perturb_deg <= 2.0, "perturb_deg must be in [0, 2]"),
            (0.0 <= self.debris_fraction < 0.5, "debris_fraction must be in [0, 0.5)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"invalid OracleConfig: {message}")

    @property
    def fallen_limit_deg(self) -> float:
        """Tilt past which the early stop declares the object fallen."""
        return min(179.0, max(self.fallen_deg, self.threshold_deg + 25.0))
