"""`dso eval` with the real pieces: a built world, a dso-tiny-format generator, a LoRA adapter,
the oracle and the geometry metrics."""

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from dso.cli import app
from dso.eval.run import evaluate
from dso.models import get_generator
from dso.world import TRAIN_FAMILIES, WILD_FAMILIES, World, build_world
from tests.models.tiny_weights import random_tiny_weights


def _adapter(weights: Path, out: Path) -> Path:
    """A LoRA adapter with non-zero weights on the generator's flow."""
    from dso.train.config import TrainConfig
    from dso.train.lora import LoraSpec, apply_lora, save_adapter

    gen = get_generator("dso-tiny", weights=weights)
    spec = LoraSpec(rank=4, alpha=8.0, dropout=0.0, targets=TrainConfig.lora_targets)
    model = apply_lora(gen.flow, spec)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.normal_(0, 0.5)
    return save_adapter(model, spec, out)


@pytest.fixture(scope="module")
def pieces(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalreal")
    world = build_world(root / "world", n_train=0, n_eval=2, eval_views=2, n_synthetic=0, n_val=0,
                        wild_per_family=1, families=TRAIN_FAMILIES[:2] + WILD_FAMILIES[:1],
                        workers=1, progress=False)
    weights = random_tiny_weights(root / "weights")
    return {"root": root, "world": world.root, "weights": weights,
            "adapter": _adapter(weights, root / "run")}


def test_evaluate_on_a_built_world(pieces):
    gen = get_generator("dso-tiny", weights=pieces["weights"])
    world = World.open(pieces["world"])
    res = evaluate(gen, world, "eval", workers=1, progress=False, n_points=500)
    items = res["items"]
    assert len(items) == 4 and res["overall"]["n_prompts"] == 4
    assert {r["family"] for r in items} == set(res["families"])
    for row in items:
        if row["output"]:  # every output got a verdict and, from real ground truth, geometry
            assert row["stable"] in (True, False) and row["error"] is None
            assert row["tilt_deg"] >= 0.0 and 0.0 < row["cd"] < 1.0 and 0 <= row["fscore"] <= 100
    again = evaluate(gen, str(pieces["world"]), "eval", workers=1, progress=False, n_points=500)
    assert again["items"] == items


def test_dso_eval_cli_with_and_without_adapter(pieces):
    outs = {}
    for name, extra in (("base", []), ("tuned", ["--adapter", pieces["adapter"]])):
        out = pieces["root"] / f"report-{name}"
        args = ["eval", "--generator", "dso-tiny", "--weights", pieces["weights"], "--world",
                pieces["world"], "--split", "eval", "--out", out, "--workers", "1",
                "--points", "500", *extra]
        result = CliRunner().invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        assert "**overall**" in result.output
        outs[name] = json.loads((out / "results.json").read_text())
        assert (out / "report.md").read_text().startswith("# Evaluation of")
        assert (out / "tilt_hist.png").stat().st_size > 0
        assert not (out / "eval.partial.jsonl").exists()  # the report holds every row
    assert outs["tuned"]["meta"]["generator"] == "dso-tiny+run"
    assert outs["tuned"]["meta"]["base_weights"] == outs["base"]["meta"]["base_weights"]
    base_seeds = [r["seed"] for r in outs["base"]["items"]]
    assert base_seeds == [r["seed"] for r in outs["tuned"]["items"]]
    # the adapter changes the network, so the outputs are not the same objects
    keys = ("output", "tilt_deg", "cd")
    assert [[r[k] for k in keys] for r in outs["base"]["items"]] != \
        [[r[k] for k in keys] for r in outs["tuned"]["items"]]


def test_dso_eval_guidance_changes_the_sampler_and_the_samples(pieces):
    outs = {}
    for name, extra in (("default", []), ("g3", ["--guidance", "3"])):
        out = pieces["root"] / f"report-guidance-{name}"
        args = ["eval", "--weights", pieces["weights"], "--world", pieces["world"],
                "--out", out, "--workers", "1", "--points", "300", "--bootstrap", "0",
                "--no-plots", *extra]
        result = CliRunner().invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        outs[name] = json.loads((out / "results.json").read_text())
    default = get_generator("dso-tiny", weights=pieces["weights"]).sampler.guidance
    assert outs["default"]["meta"]["sampler"]["guidance"] == default != 3.0
    assert outs["g3"]["meta"]["sampler"]["guidance"] == 3.0
    keys = ("output", "tilt_deg", "cd")
    assert [[r[k] for k in keys] for r in outs["default"]["items"]] != \
        [[r[k] for k in keys] for r in outs["g3"]["items"]]
