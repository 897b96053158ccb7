"""`dso eval --adapter RUN` on the base weights the run was trained on: taken from its
config.json when --generator and --weights are not given, and named in the error when other
weights are given.

A real 3-step run of the tiny dso-tiny-format model on its own --weights folder, a real world
of one object and the real oracle; nothing is mocked.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from dso.cli import app
from dso.models import get_generator
from dso.train import TrainConfig, load_adapter, train
from dso.train.checkpoint import base_label
from dso.world import TRAIN_FAMILIES, build_world
from tests.train.train_fixtures import ToySource, one_thread, write_tiny_weights  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalbase")
    weights = write_tiny_weights(root / "weights")
    run = root / "run"
    cfg = TrainConfig(dataset="memory", out=str(run), objective="dro", weights=str(weights),
                      steps=3, batch_size=4, lr=1e-2, warmup=0, lora_rank=4, save_every=100,
                      ascent_bound=0.8)
    train(cfg, generator=get_generator("dso-tiny", weights=weights),
          source=ToySource("dro", 4), progress=False)
    world = build_world(root / "world", n_train=0, n_eval=1, eval_views=1, n_synthetic=0,
                        n_val=0, wild_per_family=0, families=TRAIN_FAMILIES[:1], workers=1,
                        progress=False)
    return SimpleNamespace(root=root, weights=weights, run=run, world=world.root)


def _eval(trained, out: str, *extra) -> object:
    args = ["eval", "--adapter", trained.run, "--world", trained.world, "--out",
            trained.root / out, "--workers", "1", "--points", "100", "--bootstrap", "0",
            "--no-plots", *extra]
    return CliRunner().invoke(app, [str(a) for a in args])


def test_eval_of_a_run_takes_the_generator_and_weights_it_was_trained_with(trained):
    result = _eval(trained, "report")
    assert result.exit_code == 0, result.output
    assert (f"note: using the --generator dso-tiny --weights {trained.weights} that "
            f"{trained.run} was trained with (its config.json)") in result.stderr
    meta = json.loads((trained.root / "report" / "results.json").read_text())["meta"]
    assert meta["generator"] == "dso-tiny+run" and meta["weights"] == str(trained.weights)


def test_eval_on_other_weights_names_both_in_one_line(trained):
    other = write_tiny_weights(trained.root / "other", seed=1)
    result = _eval(trained, "report-other", "--weights", other)
    assert result.exit_code == 2 and "Traceback" not in result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ")
    assert f"using the --generator dso-tiny that {trained.run} was trained" in result.stderr
    assert (f"trained on other base weights than these: on dso-tiny with --weights "
            f"{trained.weights.resolve()}, not dso-tiny with --weights {other.resolve()}; "
            "use the weights the run was trained on") in line
    assert not (trained.root / "report-other" / "results.json").exists()


def test_the_python_api_names_the_run_s_weights_too(trained):
    with pytest.raises(ValueError, match="not dso-tiny's shipped weights") as err:
        load_adapter(get_generator("dso-tiny"), trained.run,
                     given=base_label("dso-tiny", None))
    assert f"on dso-tiny with --weights {trained.weights.resolve()}" in str(err.value)
    with pytest.raises(ValueError, match=r"\(dso-tiny with --weights .*has the base flow been"):
        load_adapter(get_generator("dso-tiny"), trained.run)  # no `given`: the run's named


def test_eval_says_when_the_run_was_trained_at_another_guidance(tmp_path):
    from dso.eval.cli import _guidance_note
    from tests.train.train_fixtures import build_store

    weights = write_tiny_weights(tmp_path / "weights")
    ds = build_store(tmp_path / "ds", weights, prompts=2, n=2, guidance=3.0)
    run = tmp_path / "run"
    cfg = TrainConfig(dataset=str(ds), out=str(run), objective="sft", weights=str(weights),
                      steps=1, batch_size=2, warmup=0, lora_rank=4, save_every=100)
    train(cfg, progress=False)
    other = get_generator("dso-tiny", weights=weights, guidance=7.5)
    note = _guidance_note(run, other)
    assert note is not None and "trained on samples made at guidance 3" in note
    assert "samples at 7.5 (pass --guidance 3" in note
    assert _guidance_note(run, get_generator("dso-tiny", weights=weights, guidance=3.0)) is None
    (tmp_path / "ds").rename(tmp_path / "moved")  # dataset not at hand: nothing to say
    assert _guidance_note(run, other) is None

