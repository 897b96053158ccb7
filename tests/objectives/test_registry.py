"""The objective registry: built-ins found by module, a new objective is one class (one file)."""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import dso.objectives
from dso.errors import UnknownNameError
from dso.objectives import base
from dso.objectives.base import HALVES, PAIRS, STABLE, Batch, Objective
from dso.train import TrainConfig, read_log, train
from tests.train.train_fixtures import ToySource, one_thread, tiny_generator  # noqa: F401

METHOD = Path(__file__).resolve().parents[2] / "docs" / "method.md"


@pytest.fixture
def registry(monkeypatch):
    """A copy of the registry for the test, so its objectives leave no trace."""
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    return base


def test_built_ins_declare_their_batch_and_reference():
    assert dso.objectives.objective_names() == ("dpo", "dro", "sft")
    dpo = dso.objectives.make_objective("dpo", {"beta": 3.0})
    assert (dpo.layout, dpo.needs_reference, dpo.rows(8), dpo.batch_size_for(16)) == (
        PAIRS, True, 16, 8)
    dro = dso.objectives.make_objective("dro", TrainConfig(dataset="d", out="o"))
    assert (dro.layout, dro.needs_reference, dro.shares_pair_noise) == (HALVES, False, False)
    paired = dso.objectives.make_objective("dro", {"paired_dro": True, "ascent_margin": 0.1})
    assert (paired.layout, paired.needs_reference, paired.shares_pair_noise) == (
        PAIRS, True, True)
    assert dso.objectives.make_objective("sft").layout == STABLE
    with pytest.raises(UnknownNameError, match="known: dpo, dro, sft"):
        dso.objectives.get_objective("ppo")


def test_batch_size_rules_come_from_the_layout():
    with pytest.raises(ValueError, match="dro needs batch_size >= 2"):
        dso.objectives.make_objective("dro").check_batch_size(1)
    with pytest.raises(ValueError, match="even"):
        dso.objectives.make_objective("dro", {"paired_dro": True}).check_batch_size(5)
    dso.objectives.make_objective("dpo").check_batch_size(1)  # one pair: two samples
    dso.objectives.make_objective("sft").check_batch_size(1)


def test_a_new_objective_defined_in_one_class_trains(registry, tmp_path, one_thread):  # noqa: F811
    @dataclass(frozen=True)
    class WorstStable(Objective):
        """The largest error among stable rows."""

        name = "worst-stable"
        layout = STABLE

        def loss(self, err, ref, batch):
            return err.max(), {"err_stable": float(err.mean().detach())}

    assert "worst-stable" in dso.objectives.objective_names()
    with pytest.raises(ValueError, match="objective must be one of"):
        TrainConfig(dataset="d", out="o", objective="worst-stable-2")
    cfg = TrainConfig(dataset="unused", out=str(tmp_path / "run"), objective="worst-stable",
                      steps=3, batch_size=4, save_every=3)
    result = train(cfg, generator=tiny_generator(), source=ToySource("sft", 4), progress=False)
    log = read_log(tmp_path / "run")
    assert result.steps == 3 and [set(r) >= {"loss", "err_stable"} for r in log] == [True] * 3
    assert all(r["loss"] >= r["err_stable"] for r in log)  # the max is at least the mean


def test_the_documented_example_is_one_new_file(registry, tmp_path, monkeypatch,
                                                one_thread):  # noqa: F811
    """docs/method.md's worked example, saved as a module of the package, registers and trains."""
    code = re.search(r"### Adding an objective.*?```python\n(.*?)```", METHOD.read_text(),
                     re.S).group(1)
    package = tmp_path / "extra"
    package.mkdir()
    (package / "hinge.py").write_text(code)
    monkeypatch.setattr(dso.objectives, "__path__", [*dso.objectives.__path__, str(package)])
    monkeypatch.delitem(sys.modules, "dso.objectives.hinge", raising=False)
    try:
        assert "hinge" in dso.objectives.objective_names()
        hinge = dso.objectives.make_objective("hinge", TrainConfig(dataset="d", out="o"))
        assert (hinge.margin, hinge.rows(3), hinge.needs_reference) == (0.05, 6, False)
        cfg = TrainConfig(dataset="unused", out=str(tmp_path / "run"), objective="hinge",
                          steps=3, batch_size=2, save_every=3)
        train(cfg, generator=tiny_generator(), source=ToySource("dpo", 2), progress=False)
    finally:
        sys.modules.pop("dso.objectives.hinge", None)
    log = read_log(tmp_path / "run")
    assert [r["step"] for r in log] == [1, 2, 3]
    assert all(math.isfinite(r["loss"]) and 0 <= r["satisfied"] <= 1 for r in log)


def test_two_objectives_of_one_name_are_refused(registry):
    with pytest.raises(ValueError, match="defined twice"):
        @dataclass(frozen=True)
        class AnotherDPO(Objective):
            name = "dpo"


def test_a_paired_batch_is_built_and_split_in_one_place():
    w, lo, cond = torch.zeros(2, 3), torch.ones(2, 3), torch.arange(2.0)[:, None]
    batch = Batch.of_pairs(w, lo, cond)
    assert batch.paired and len(batch) == 4 and batch.stable.tolist() == [True, True, False, False]
    first, second = base.split_pairs(batch.x0)
    assert torch.equal(first, w) and torch.equal(second, lo)
    assert torch.equal(base.split_pairs(batch.cond)[1], cond)
