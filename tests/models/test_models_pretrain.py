"""A short pretraining on a tiny config: deterministic for a seed, loadable, logged."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from dso.cli import app
from dso.models import get_generator
from dso.models.pretrain import TrainingSet, pretrain, standardise_latents
from dso.models.pretrain_config import PretrainConfig
from dso.models.vae import SparseStructureDecoder, SparseStructureEncoder

TINY = PretrainConfig(
    latent_channels=2,
    vae_channels=(4, 8, 8),
    vae_res_blocks=0,
    vae_middle_blocks=1,
    vae_steps=3,
    vae_batch=2,
    flow_width=16,
    flow_blocks=1,
    flow_heads=2,
    mlp_ratio=2,
    patch_size=2,
    cond_width=16,
    image_size=16,
    flow_steps=4,
    flow_batch=4,
    warmup_steps=2,
    sample_steps=2,
    guidance=1.0,
    log_every=1,
)


def _boxes(n: int = 6, res: int = 16) -> TrainingSet:
    """Boxes standing on the floor and images whose colour encodes the box size."""
    rng = np.random.default_rng(0)
    grids = np.zeros((n, res, res, res), dtype=bool)
    images = np.zeros((n, 2, 16, 16, 3), dtype=np.uint8)
    for i in range(n):
        w, h = rng.integers(2, res // 2, size=2)
        lo = res // 2 - w // 2
        grids[i, lo : lo + w, lo : lo + w, :h] = True
        images[i, :, 4:12, 4:12] = (20 * w, 20 * h, 128)
    return TrainingSet(grids, images)


def _run(tmp: Path, cfg: PretrainConfig) -> dict[str, bytes]:
    torch.set_num_threads(1)
    out = pretrain(_boxes(), tmp, cfg, progress=False)
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.safetensors"))}


def test_pretraining_is_deterministic_and_loadable(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", TINY)
    b = _run(tmp_path / "b", TINY)
    assert set(a) == {f"{n}.safetensors" for n in ("flow", "decoder", "encoder", "image_encoder")}
    assert a == b
    c = _run(tmp_path / "c", dataclasses.replace(TINY, seed=1))
    assert c["flow.safetensors"] != a["flow.safetensors"]
    log = [
        json.loads(line)
        for line in (tmp_path / "a" / "pretrain_log.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in log if r["phase"] == "flow"] == [0, 1, 2, 3]
    assert all(np.isfinite(r["loss"]) for r in log if "loss" in r)
    summary = json.loads((tmp_path / "a" / "pretrain.json").read_text())
    assert PretrainConfig.from_dict(summary["config"]) == TINY
    stored = load_file(str(tmp_path / "a" / "flow.safetensors"))
    assert all(v.dtype == torch.float16 for v in stored.values())  # save_dtype default
    gen = get_generator("dso-tiny", weights=tmp_path / "a")
    assert all(p.dtype == torch.float32 for p in gen.flow.parameters())
    assert gen.resolution == 16 and gen.latent_shape == (2, 4, 4, 4)
    assert gen.sampler.steps == 2 and gen.sampler.guidance == 1.0
    samples = gen.generate([_boxes().images[0, 0]], n=2, seed=0)
    assert len(samples) == 2 and samples[0].occupancy.shape == (16, 16, 16)


def test_standardising_latents_keeps_the_decoder_output() -> None:
    torch.manual_seed(0)
    enc = SparseStructureEncoder(1, 3, 0, [4, 8], 1)
    dec = SparseStructureDecoder(1, 3, 0, [8, 4], 1)
    for p in [*enc.parameters(), *dec.parameters()]:
        torch.nn.init.normal_(p, std=0.3)
    x = torch.from_numpy(_boxes().grids[:, None, ::2, ::2, ::2].astype(np.float32))
    with torch.no_grad():
        before = dec(enc(x))
        lat = standardise_latents(enc, dec, enc(x))
        assert torch.allclose(lat, enc(x), atol=1e-5)
        assert torch.allclose(lat.transpose(0, 1).flatten(1).std(1), torch.ones(3), atol=1e-4)
        assert torch.allclose(dec(lat), before, atol=1e-4)


def test_config_validation_and_cli_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="flow_width 15 not divisible"):
        dataclasses.replace(TINY, flow_width=15).validate()
    with pytest.raises(ValueError, match="unknown pretrain settings"):
        PretrainConfig.from_dict({"bogus": 1})
    with pytest.raises(ValueError, match="does not fit"):
        TINY.latent_resolution(12)
    result = CliRunner().invoke(
        app, ["pretrain", "--world", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "no world" in result.output


@pytest.mark.parametrize("lr", ["vae_lr", "flow_lr"])
def test_learning_rates_must_be_finite_and_positive(lr: str) -> None:
    for bad in (0.0, -1e-3, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=f"{lr} must be a finite number > 0, got {bad}"):
            dataclasses.replace(TINY, **{lr: bad}).validate()
    dataclasses.replace(TINY, **{lr: 1e30}).validate()  # finite: only training shows it diverges


@pytest.mark.parametrize("stage", ["vae", "flow"])
def test_a_diverging_run_stops_naming_stage_and_step(stage: str, tmp_path: Path) -> None:
    warmup = "vae_warmup_steps" if stage == "vae" else "warmup_steps"
    cfg = dataclasses.replace(TINY, **{f"{stage}_lr": 1e30, warmup: 0})
    with pytest.raises(ValueError) as err:
        _run(tmp_path / "out", cfg)
    message = str(err.value)
    assert message.startswith(f"pretraining diverged: the {stage} loss is nan at step 1")
    assert f"lower {stage}_lr (now 1e+30)" in message and "\n" not in message
    assert not list(tmp_path.iterdir())  # nothing written, no temporary folder left


def test_a_failed_run_leaves_the_previous_weights_intact(tmp_path: Path, monkeypatch) -> None:
    import dso.models.pretrain as pretrain_module
    from dso.models.pretrain import WRITTEN

    out = tmp_path / "out"
    _run(out, TINY)
    (out / "notes.txt").write_text("mine")  # not the run's: never touched
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(before) == {*WRITTEN, "notes.txt"}
    real_save, saved = pretrain_module.save_model, []

    def save_then_fill_the_disk(model, directory, name, *args):
        if len(saved) == 2:
            raise OSError(28, "No space left on device")
        saved.append(name)
        real_save(model, directory, name, *args)

    monkeypatch.setattr(pretrain_module, "save_model", save_then_fill_the_disk)
    with pytest.raises(OSError, match="No space left"):
        _run(out, dataclasses.replace(TINY, seed=5))
    assert saved == ["flow", "decoder"]  # it did fail midway through the weights
    monkeypatch.undo()
    with pytest.raises(ValueError, match="pretraining diverged"):
        _run(out, dataclasses.replace(TINY, vae_lr=1e30, vae_warmup_steps=0))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left
    new = _run(out, dataclasses.replace(TINY, seed=5))  # a run that succeeds replaces them
    assert new != {k: v for k, v in before.items() if k.endswith(".safetensors")}
    assert (out / "notes.txt").read_text() == "mine"


def test_a_folder_holding_something_else_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "dataset"
    other.mkdir()
    (other / "index.sqlite").write_bytes(b"a dataset")
    with pytest.raises(ValueError, match="is not empty and holds no dso-tiny weights"):
        _run(other, TINY)
    assert [p.name for p in other.iterdir()] == ["index.sqlite"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset"]  # no temporary folder


def test_cli_refuses_to_pretrain_on_a_held_out_split(tmp_path: Path) -> None:
    from dso.world.plan import HELD_OUT_SPLITS

    assert set(HELD_OUT_SPLITS) >= {"eval", "wild"}
    for split in HELD_OUT_SPLITS:
        out = tmp_path / split
        result = CliRunner().invoke(app, ["pretrain", "--world", str(tmp_path), "--out", str(out),
                                          "--split", split, "--quiet"])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in lines[0]
        assert f"split '{split}' is held out" in lines[0] and "no longer held-out" in lines[0]
        assert not out.exists()


def test_cli_pretrains_on_a_built_world(tmp_path: Path) -> None:
    from dso.world import build_world

    world = tmp_path / "world"
    build_world(
        world,
        n_train=3,
        n_eval=0,
        n_synthetic=0, n_val=0,
        wild_per_family=0,
        families=["stool", "bottle"],
        workers=1,
    )
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY.to_dict()))
    out = tmp_path / "out"
    args = [
        "pretrain",
        "--world",
        str(world),
        "--out",
        str(out),
        "--config",
        str(config),
        "--flow-steps",
        "2",
        "--seed",
        "3",
        "--threads",
        "1",
        "--quiet",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "pretraining on 3 objects" in result.output
    summary = json.loads((out / "pretrain.json").read_text())
    assert summary["config"]["flow_steps"] == 2 and summary["config"]["seed"] == 3
    assert summary["source"]["world_config"]["seed"] == 0
    gen = get_generator("dso-tiny", weights=out)
    assert gen.resolution == 32 and gen.latent_shape == (2, 8, 8, 8)
