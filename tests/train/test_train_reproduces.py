"""Training on a real store gives the losses recorded before the objective registry existed.

The values were printed by the recipe of commit 327c635 (objectives spread over six files) for
the demo's settings (`DemoConfig.train_config`) on the tiny real store: the registry, the typed
batch and the generated options must not change a single draw.

The tolerance (1e-4 relative) absorbs the rounding of another CPU: Adam's first steps move each
weight by about lr * sign(gradient), so a gradient near zero that rounds the other way on
another machine changes a later loss by ~1e-5 (seen on DPO, whose losses sit near log 2: 2e-5
relative on an AMD EPYC against the machine that recorded them). Another seed moves some loss
of each of dro, dpo and sft by 5e-4 relative or more (seeds 1 and 2, measured on that machine).
"""

import dataclasses

import pytest

from dso.demo.config import DemoConfig
from dso.train import read_log, train
from tests.train.train_fixtures import build_store, one_thread, write_tiny_weights  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")

RECORDED = {  # objective, changes to the demo's settings -> the first three losses
    "dro": ("dro", {}, [0.5708514451980591, 0.8454397916793823, 0.6260417699813843]),
    "dpo": ("dpo", {}, [0.6931471824645996, 0.6943838596343994, 0.6910653114318848]),
    "sft": ("sft", {}, [2.3170909881591797, 2.2433032989501953, 2.540571451187134]),
    "dro_margin": ("dro", {"paired_dro": False, "ascent_margin": 0.05},
                   [0.6340739727020264, 0.7564730644226074, 0.7427656650543213]),
    "dpo_accum": ("dpo", {"grad_accum": 2, "cond_dropout": 0.3},
                  [0.6931471824645996, 0.6905747652053833, 0.6854144334793091]),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("reproduce")
    weights = write_tiny_weights(root / "weights")
    return build_store(root / "ds", weights), weights


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_losses_match_the_recorded_ones(store, tmp_path, name):
    ds, weights = store
    objective, changes, want = RECORDED[name]
    cfg = DemoConfig.quick(weights=str(weights)).train_config(objective, ds, tmp_path / name)
    train(dataclasses.replace(cfg, steps=3, batch_size=4, **changes), progress=False)
    assert [r["loss"] for r in read_log(tmp_path / name)] == pytest.approx(want, rel=1e-4)
