"""Determinism, batch order, worker-crash isolation, bounds on steps and wall time, angles."""

import math
import os

import numpy as np
import pytest

from dso.physics import OracleConfig, check_many, check_mesh
from dso.physics.simulate import dso_angle_deg, tilt_deg
from tests.physics.oracle_shapes import biped, cantilever, leaning_stack, mesh_of, table

MESHES = [mesh_of(b) for b in (table(), cantilever(1.5), biped(0.1), leaning_stack(0.12),
                                cantilever(0.7), table(1.2))]
EXPECTED = [True, False, True, False, True, False]


def _without_time(result):
    d = result.to_dict()
    d.pop("seconds")
    return d


def test_same_mesh_same_answer_every_run_and_every_worker_count():
    serial = check_many(MESHES, workers=1, progress=False)
    again = check_many(MESHES, workers=1, progress=False)
    pooled = check_many(MESHES, workers=2, progress=False)
    assert [r.stable for r in serial] == EXPECTED  # order preserved
    for a, b, c in zip(serial, again, pooled, strict=True):
        assert _without_time(a) == _without_time(b) == _without_time(c)


class _KillsTheWorker:
    """Unpickling this ends the worker process, as a segfault in native code would."""

    def __reduce__(self):
        return (os._exit, (3,))


def test_a_dying_worker_costs_only_its_own_item():
    batch = [MESHES[0], _KillsTheWorker(), MESHES[1], MESHES[2]]
    results = check_many(batch, workers=2, progress=False)
    assert [r.status for r in results] == ["ok", "error", "ok", "ok"]
    assert results[1].error_kind == "crash" and "died" in results[1].error
    assert [results[i].stable for i in (0, 2, 3)] == [True, False, True]


def test_steps_are_bounded_by_the_horizon_without_early_stop():
    config = OracleConfig.from_preset(early_stop=False, horizon_s=0.5)
    result = check_mesh(MESHES[0], config=config)
    assert result.stop_reason == "horizon" and result.sim_seconds == pytest.approx(0.5)


def test_wall_time_is_bounded_inside_the_loop():
    config = OracleConfig.from_preset(early_stop=False, max_wall_s=1e-4)
    result = check_mesh(MESHES[0], config=config)
    assert result.status == "error" and result.error_kind == "simulation"
    assert "wall-time limit" in result.error
    assert result.seconds < 1.0


def test_early_stop_reasons():
    standing, falling = check_mesh(MESHES[0]), check_mesh(MESHES[1])
    assert standing.stop_reason == "static" and standing.sim_seconds == 0.0
    assert falling.stop_reason in ("fallen", "settled") and falling.sim_seconds < 5.0
    stepped = check_mesh(MESHES[0], config=OracleConfig.from_preset(static_stop=False))
    assert stepped.stop_reason == "settled" and stepped.sim_seconds < 3.0
    assert stepped.stable and stepped.tilt_deg < 0.1
    full = check_mesh(MESHES[1], config=OracleConfig.from_preset(early_stop=False))
    assert full.sim_seconds == pytest.approx(10.0) and full.stable is False


def test_tilt_ignores_yaw_but_the_dso_angle_counts_it():
    half = math.radians(90.0) / 2
    yaw = np.array([math.cos(half), 0.0, 0.0, math.sin(half)])
    pitch = np.array([math.cos(half / 3), 0.0, math.sin(half / 3), 0.0])  # 30 deg about y
    assert tilt_deg(yaw) == pytest.approx(0.0, abs=1e-9)
    assert dso_angle_deg(yaw) == pytest.approx(90.0)
    assert tilt_deg(pitch) == pytest.approx(30.0) == dso_angle_deg(pitch)


def test_results_are_json_safe():
    import json

    for result in check_many([MESHES[0], "missing.obj"], workers=1, progress=False):
        text = json.dumps(result.to_dict(), allow_nan=False)
        assert {"path", "status", "stable", "tilt_deg", "dso_angle_deg", "mass_source",
                "seconds", "error"} <= set(json.loads(text))


def test_a_negative_worker_count_is_refused_before_any_work():
    with pytest.raises(ValueError, match="workers must be >= 0"):
        check_many([mesh_of(table(0.0))], workers=-1)
    assert check_many([mesh_of(table(0.0))], workers=0, progress=False)[0].status == "ok"
