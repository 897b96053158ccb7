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
from dso.models.encoders import TinyImageEncoder
from dso.models.flow import SparseStructureFlowModel
from dso.models.loading import save_model
from dso.models.vae import SparseStructureDecoder, SparseStructureEncoder
from dso.world import TRAIN_FAMILIES, WILD_FAMILIES, World, build_world

FLOW = dict(resolution=4, in_channels=2, out_channels=2, model_channels=32, cond_channels=16,
            num_blocks=1, num_heads=2, mlp_ratio=2, patch_size=2, qk_rms_norm=True)
DEC = dict(out_channels=1, latent_channels=2, num_res_blocks=1, num_res_blocks_middle=1,
           channels=[16, 8])
ENC = dict(in_channels=1, latent_channels=2, num_res_blocks=1, num_res_blocks_middle=1,
           channels=[8, 16])
IMG = dict(image_size=16, width=16, hidden=16)


def _weights(path: Path, seed: int = 0) -> Path:
    """A dso-tiny weights folder of small random models."""
    torch.manual_seed(seed)
    for name, (model, args) in {"flow": (SparseStructureFlowModel(**FLOW), FLOW),
                                "decoder": (SparseStructureDecoder(**DEC), DEC),
                                "encoder": (SparseStructureEncoder(**ENC), ENC)}.items():
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0, 0.2 if name == "flow" else 0.1)
        save_model(model, path, name, args)
    save_model(TinyImageEncoder(**IMG), path, "image_encoder", IMG)
    (path / "generator.json").write_text('{"sampler": {"steps": 3, "guidance": 2.0}}')
    return path


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
    weights = _weights(root / "weights")
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
    assert outs["tuned"]["meta"]["generator"] == "dso-tiny+run"
    base_seeds = [r["seed"] for r in outs["base"]["items"]]
    assert base_seeds == [r["seed"] for r in outs["tuned"]["items"]]
    # the adapter changes the network, so the outputs are not the same objects
    keys = ("output", "tilt_deg", "cd")
    assert [[r[k] for k in keys] for r in outs["base"]["items"]] != \
        [[r[k] for k in keys] for r in outs["tuned"]["items"]]
