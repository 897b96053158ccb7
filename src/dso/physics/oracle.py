"""`check_mesh`: does this mesh stand under gravity? Never raises for bad input."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import trimesh

from dso.interrupts import reraise_if_interrupted
from dso.physics.analytic import in_static_equilibrium, support_diagnostics
from dso.physics.config import OracleConfig
from dso.physics.grid import HULL_CANDIDATES_KEY, Grid, prepare_grid
from dso.physics.loading import (
    MeshInputError,
    MeshLike,
    describe,
    normal_frame,
    normalise,
    prepare,
)
from dso.physics.mass import MassProperties, from_integrals, mass_properties
from dso.physics.model import build_hull_model, build_legacy_model, collision_vertices
from dso.physics.pieces import find_pieces, kept_mesh
from dso.physics.result import CheckResult
from dso.physics.simulate import SimOutcome, SimulationError, simulate
from dso.physics.topology import CLOSED_KEY, EDGES_KEY


@dataclass
class Evaluation:
    """A result plus what rendering needs (the normalised mesh and the recorded poses) and
    where the time went: `timings` holds seconds per stage (load, pieces, mass, hull, compile,
    simulate; `legacy` is the dso preset's compile, which includes its mass)."""

    result: CheckResult
    mesh: trimesh.Trimesh | None = None
    frames: list[np.ndarray] | None = None
    dt_frame: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


class _Laps:
    """Stage timer: `lap(name)` books the time since the previous lap under `name`."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings, self.last = timings, time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - self.last
        self.last = now


def resolve_config(up: str = "auto", preset: str = "accurate", threshold: float = 20.0,
                   config: OracleConfig | None = None) -> OracleConfig:
    """`config` when given, else the preset with `up` and `threshold` (raises ValueError)."""
    if config is not None:
        config.validate()
        return config
    return OracleConfig.from_preset(preset, up=up, threshold_deg=float(threshold))


def check_mesh(mesh: MeshLike, *, up: str = "auto", preset: str = "accurate",
               threshold: float = 20.0, config: OracleConfig | None = None,
               path: str | None = None) -> CheckResult:
    """Stand `mesh` upright on flat ground, simulate, and say whether it stays up.

    `mesh`: a file path, a `trimesh.Trimesh`/`trimesh.Scene`, `(vertices, faces)`, or a
    `dso.physics.grid.Grid` (a generated sample's occupancy, meshed in memory).
    `up`: "auto" (a .glb/.gltf path y-up, any other input z-up), "z" or "y".
    `config` (when given) replaces `up`, `preset` and `threshold`. Bad input never raises: it
    gives `status="error"` with a message; an invalid config raises ValueError.
    """
    return evaluate(mesh, resolve_config(up, preset, threshold, config), path).result


def evaluate(mesh: MeshLike, config: OracleConfig, path: str | None = None) -> Evaluation:
    """`check_mesh` with the normalised mesh and recorded poses kept (for rendering)."""
    start = time.perf_counter()
    result = CheckResult(path=path if path is not None else describe(mesh),
                         preset=config.preset, threshold_deg=config.threshold_deg)
    evaluation = Evaluation(result)
    try:
        _run(mesh, config, evaluation)
        result.status = "ok"
    except Exception as err:  # noqa: BLE001 - one bad item must never stop a batch
        reraise_if_interrupted()  # a Ctrl-C a library turned into an error is not the mesh's
        result.error, result.error_kind = _failure(err)
    result.seconds = time.perf_counter() - start
    return evaluation


def _failure(err: Exception) -> tuple[str, str]:
    """The (error, error_kind) of a result whose evaluation raised `err`."""
    if isinstance(err, MeshInputError):
        return str(err), err.kind
    if isinstance(err, SimulationError):
        return str(err), "simulation"
    if isinstance(err, ValueError):  # hull, MuJoCo compilation
        return f"cannot build the model: {err}", "model"
    return f"{type(err).__name__}: {err}", "internal"


def _run(mesh: MeshLike, config: OracleConfig, evaluation: Evaluation) -> None:
    result, laps = evaluation.result, _Laps(evaluation.timings)
    if isinstance(mesh, Grid):  # the reduced hull alone searches the grid's hull candidates
        normalised, result.decimated = prepare_grid(mesh, config.up, config.max_faces,
                                                    config.on_too_many_faces,
                                                    candidates=config.hull_tol > 0)
    else:
        normalised, result.decimated = prepare(mesh, config.up, config.max_faces,
                                               config.on_too_many_faces)
    laps.lap("load")
    known = None  # mass properties the pieces pass already integrated
    if config.pieces:
        normalised, known = _drop_debris(normalised, config, result)
        laps.lap("pieces")
    result.faces = len(normalised.faces)
    vertices = np.asarray(normalised.vertices)
    if config.inertia == "legacy":
        model = build_legacy_model(vertices, np.asarray(normalised.faces), config.dt)
        result.mass_source, com = "legacy", model.body_ipos[1]
        laps.lap("legacy")
    else:
        props = known or mass_properties(normalised, config.density)
        result.mass_source, com = props.source, props.com
    support = support_diagnostics(vertices, com)
    if support is not None:
        result.com_margin = support.com_margin
        result.topple_angle_deg = support.topple_angle_deg
    if _static_ok(config) and in_static_equilibrium(vertices, com):
        laps.lap("mass")
        outcome = _at_rest(config)
    else:
        if config.inertia == "exact":
            laps.lap("mass")
            hull = collision_vertices(vertices, config.hull_tol,
                                      normalised.metadata.get(HULL_CANDIDATES_KEY))
            laps.lap("hull")
            model = build_hull_model(hull, props, config.dt)
            laps.lap("compile")
        outcome = simulate(model, horizon_s=config.horizon_s, early_stop=config.early_stop,
                           fallen_deg=config.fallen_limit_deg, max_wall_s=config.max_wall_s,
                           record_every_s=config.record_every_s)
        laps.lap("simulate")
    _fill(result, outcome, config)
    if config.perturb_deg > 0 and result.stable and outcome.stop_reason != "static":
        _perturb(result, model, vertices, config)  # the static stop's 2 deg margin covers it
        laps.lap("perturb")
    evaluation.mesh, evaluation.frames = normalised, outcome.frames
    evaluation.dt_frame = config.record_every_s


def _drop_debris(mesh: trimesh.Trimesh, config: OracleConfig,
                 result: CheckResult) -> tuple[trimesh.Trimesh, MassProperties | None]:
    """Count the pieces into `result`; the mesh without debris, normalised again, and its
    mass properties when the pieces pass has integrated them already (closed shells)."""
    closed = mesh.metadata.get(CLOSED_KEY)  # whole shells are dropped: closedness is kept
    found = find_pieces(mesh, config.piece_gap, config.debris_fraction, closed=closed,
                        edges=mesh.metadata.get(EDGES_KEY))
    result.pieces, result.debris_pieces = found.count, found.debris
    result.debris_fraction = found.debris_fraction
    props = None
    if found.integrals is not None:
        # size 1: the mesh is normalised (its longest side is 1)
        props = from_integrals(found.integrals, found.origin, 1.0, config.density, "mesh")
    if found.keep is None:
        return mesh, props
    raw = kept_mesh(mesh, found)
    frame = normal_frame(np.asarray(raw.vertices))
    kept = normalise(raw)
    if closed is not None:
        kept.metadata[CLOSED_KEY] = closed
    candidates = mesh.metadata.get(HULL_CANDIDATES_KEY)
    if candidates is not None:  # kept_mesh keeps the used vertices in order
        used = np.zeros(len(mesh.vertices), dtype=bool)
        used[np.asarray(mesh.faces)[found.keep].ravel()] = True
        kept.metadata[HULL_CANDIDATES_KEY] = candidates[used]
    return kept, props.moved(*frame) if props is not None else None


def _perturb(result: CheckResult, model, vertices: np.ndarray, config: OracleConfig) -> None:
    """Roll out again from rest tilted `perturb_deg` either way about x and about y, resting on
    its lowest point; the result stays stable only if every one ends below the threshold."""
    angles, half = [], np.radians(config.perturb_deg) / 2.0
    for axis in ((1.0, 0.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, -1.0, 0.0)):
        quat = np.array([np.cos(half), *(np.sin(half) * np.array(axis))])
        turned = vertices @ trimesh.transformations.quaternion_matrix(quat)[:3, :3].T
        outcome = simulate(model, horizon_s=config.horizon_s, early_stop=config.early_stop,
                           fallen_deg=config.fallen_limit_deg, max_wall_s=config.max_wall_s,
                           start=(quat, -float(turned[:, 2].min())))
        angles.append(outcome.tilt_deg if config.verdict_angle == "tilt"
                      else outcome.dso_angle_deg)
    result.perturbed_deg = max(angles)
    if result.perturbed_deg >= config.threshold_deg:
        result.stable, result.reason = False, "perturbed"


def _static_ok(config: OracleConfig) -> bool:
    """The static stop is a form of early stop, and needs the exact centre of mass."""
    return config.early_stop and config.static_stop and config.inertia == "exact"


def _at_rest(config: OracleConfig) -> SimOutcome:
    """The outcome of a body in static equilibrium: it never moves."""
    qpos = np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    frames = [qpos, qpos.copy()] if config.record_every_s > 0 else []
    return SimOutcome(0.0, 0.0, [0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], 0.0, "static", frames)


def _fill(result: CheckResult, outcome: SimOutcome, config: OracleConfig) -> None:
    result.tilt_deg = outcome.tilt_deg
    result.dso_angle_deg = outcome.dso_angle_deg
    angle = outcome.tilt_deg if config.verdict_angle == "tilt" else outcome.dso_angle_deg
    one_piece = result.pieces is None or result.pieces == 1
    result.stable = bool(angle < config.threshold_deg) and one_piece
    if not result.stable:
        result.reason = "tilt" if one_piece else "pieces"
    result.final_pos, result.final_quat = outcome.final_pos, outcome.final_quat
    result.sim_seconds = outcome.sim_seconds
    result.stop_reason = outcome.stop_reason
