"""Guardrails: geometry degradation warnings and a failing evaluation hook."""

import warnings
from types import SimpleNamespace

import pytest
import torch

from dso.train.guardrails import GeometryDegradedWarning, GeometryGuard, run_eval


def test_guard_flags_fscore_drop_and_chamfer_rise_beyond_tolerance():
    guard = GeometryGuard(fscore_drop=1.0, cd_rise=0.05)
    assert guard.check({"fscore": 70.0, "cd": 0.040, "stable_pct": 80.0}) == []
    assert guard.check({"fscore": 69.5, "cd": 0.041}) == []           # within noise
    problems = guard.check({"fscore": 68.5, "cd": 0.043})
    assert len(problems) == 2 and "F-score" in problems[0] and "Chamfer" in problems[1]
    assert guard.check({"fscore": float("nan"), "cd": None}) == []     # nothing to compare


def test_run_eval_warns_restores_train_mode_and_survives_a_failing_hook():
    flow = torch.nn.Linear(2, 2).train()
    gen = SimpleNamespace(flow=flow)
    guard = GeometryGuard()
    run_eval(lambda g, s: {"fscore": 70.0, "cd": 0.04}, gen, 0, guard)
    with pytest.warns(GeometryDegradedWarning, match="flat plate"):
        record = run_eval(lambda g, s: {"fscore": 60.0, "cd": 0.04}, gen, 10, guard)
    assert record["step"] == 10 and record["geometry_warnings"]
    assert flow.training

    def broken(generator, step):
        raise RuntimeError("renderer exploded")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = run_eval(broken, gen, 20, guard)
    assert "renderer exploded" in record["error"] and flow.training
    assert any("evaluation at step 20 failed" in str(w.message) for w in caught)
