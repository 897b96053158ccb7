"""`dso export`: a LoRA run merged into its flow and written in the released formats.

TRELLIS: a flow in the released layout at the golden vectors' size (the vendored flow_p1 weights,
blocks stored in fp16 as released) is fine-tuned for a few steps, exported, and reloaded with
dso's strict loader; the written keys, shapes and dtypes follow official_layout.json. dso-tiny:
the exported folder loads with `--weights` and samples exactly as the exported model in memory.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from dso.cli import app
from dso.models import get_generator
from dso.models.flow import SparseStructureFlowModel
from dso.models.loading import build_model, load_model, release_dtypes, save_model
from dso.models.trellis import FLOW_NAME
from dso.objectives import Batch
from dso.train import TrainConfig, export, load_adapter, train
from dso.train.exporter import PEFT_CONFIG, PEFT_FILE, released_state
from tests.train.train_fixtures import ToySource, one_thread, write_tiny_weights  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")

GOLDEN = Path(__file__).resolve().parents[1] / "models" / "golden" / "trellis-stage1"
# Linear layers inside the transformer blocks: what the release stores in fp16
FP16_KEY = re.compile(r"blocks\.\d+\.(self_attn\.(to_qkv|to_out)|cross_attn\.(to_q|to_kv|to_out)"
                      r"|mlp\.mlp\.[02]|adaLN_modulation\.1)\.(weight|bias)$")


def _expected_dtype(key: str) -> torch.dtype:
    return torch.float16 if FP16_KEY.match(key) else torch.float32


class LatentSource:
    """Fixed random DRO batches (half stable) for a flow of the given shapes."""

    def __init__(self, flow: SparseStructureFlowModel, batch: int = 4, tokens: int = 4) -> None:
        g = torch.Generator().manual_seed(7)
        res = flow.resolution
        self.x0 = torch.randn(batch, flow.in_channels, res, res, res, generator=g)
        self.cond = torch.randn(batch, tokens, flow.cond_channels, generator=g)
        self.stable = torch.arange(batch) < batch // 2

    def batch(self, step: int) -> Batch:
        return Batch(self.x0, self.cond, self.stable)


def _inputs(flow: SparseStructureFlowModel, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    res = flow.resolution
    x = torch.randn(2, flow.in_channels, res, res, res, generator=g)
    return x, torch.tensor([900.0, 300.0]), torch.randn(2, 5, flow.cond_channels, generator=g)


def _out(flow, inputs) -> torch.Tensor:
    with torch.no_grad():
        return flow(*inputs)


@pytest.fixture(scope="module")
def trellis_run(tmp_path_factory):
    """Released-layout source files (flow_p1 size, fp16 blocks) and a 3-step DRO run on them."""
    root = tmp_path_factory.mktemp("export_trellis")
    args = {k: v for k, v in json.loads((GOLDEN / "configs.json").read_text())["flow_p1"].items()}
    args["use_fp16"] = True
    golden = load_file(str(GOLDEN / "flow_p1.safetensors"))
    weights = {k.removeprefix("weights."): v for k, v in golden.items() if k.startswith("weights.")}
    ckpts = root / "trellis" / "ckpts"
    ckpts.mkdir(parents=True)
    stored = {k: v.to(_expected_dtype(k)).contiguous() for k, v in weights.items()}
    save_file(stored, str(ckpts / f"{FLOW_NAME}.safetensors"))
    source_json = {"name": "SparseStructureFlowModel", "args": args}
    (ckpts / f"{FLOW_NAME}.json").write_text(json.dumps(source_json))
    base = load_model(ckpts, FLOW_NAME)
    run = root / "run"
    cfg = TrainConfig(dataset="memory", out=str(run), objective="dro", generator="trellis",
                      weights=str(root / "trellis"), steps=3, batch_size=4, lr=1e-2, warmup=0,
                      lora_rank=4, lora_alpha=8.0, save_every=100)
    flow = load_model(ckpts, FLOW_NAME)
    generator = SimpleNamespace(flow=flow)
    train(cfg, generator=generator, source=LatentSource(flow), progress=False)
    return SimpleNamespace(root=root, ckpts=ckpts, run=run, base=base, peft=generator.flow,
                           source_json=source_json)


def test_trellis_export_reloads_strictly_with_identical_outputs(trellis_run, tmp_path):
    result = export(trellis_run.run, tmp_path / "out")
    out = tmp_path / "out"
    assert result.files == [f"{FLOW_NAME}.json", f"{FLOW_NAME}.safetensors"]
    assert sorted(p.name for p in out.iterdir()) == result.files
    assert json.loads((out / f"{FLOW_NAME}.json").read_text()) == trellis_run.source_json
    fresh = load_model(out, FLOW_NAME)  # dso's strict loader (keys, shapes, float tensors)
    inputs = _inputs(fresh)
    assert torch.equal(_out(fresh, inputs), _out(result.flow, inputs))
    # the merge is the adapted model (up to the fp16 storage of the blocks) and not the base
    adapted, base = _out(trellis_run.peft, inputs), _out(trellis_run.base, inputs)
    scale = adapted.abs().max()
    assert (_out(fresh, inputs) - adapted).abs().max() < 2e-3 * scale
    assert (base - adapted).abs().max() > 50 * (_out(fresh, inputs) - adapted).abs().max()
    # what TRELLIS's from_pretrained does: build the class from args, load_state_dict strictly
    state = load_file(str(out / f"{FLOW_NAME}.safetensors"))
    SparseStructureFlowModel(**trellis_run.source_json["args"]).load_state_dict(state, strict=True)
    assert {k: v.dtype for k, v in state.items()} == {k: _expected_dtype(k) for k in state}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_export_layout_at_release_size_matches_official_layout():
    layout = json.loads((GOLDEN / "official_layout.json").read_text())[FLOW_NAME]
    model = build_model({"name": "SparseStructureFlowModel", "args": layout["args"]}, "meta")
    state = released_state(model, release_dtypes(model, layout["args"]["use_fp16"]))
    assert {k: list(v.shape) for k, v in state.items()} == layout["state_dict"]
    assert {k: v.dtype for k, v in state.items()} == {k: _expected_dtype(k) for k in state}
    n_fp16 = sum(v.numel() for v in state.values() if v.dtype == torch.float16)
    assert 0.99 < n_fp16 / sum(v.numel() for k, v in state.items() if k != "pos_emb") < 1.0


def test_peft_export_loads_into_the_wrapped_flow_strictly(trellis_run, tmp_path):
    from peft import LoraConfig, get_peft_model

    result = export(trellis_run.run, tmp_path / "peft", format="peft")
    assert result.files == sorted([PEFT_FILE, PEFT_CONFIG])
    info = json.loads((tmp_path / "peft" / PEFT_CONFIG).read_text())
    assert info["lora_config"] == {"r": 4, "lora_alpha": 8.0, "lora_dropout": 0.0,
                                   "target_modules": ["to_q", "to_kv", "to_out", "to_qkv"]}
    # the original release's example: wrap the released flow, then a strict load_state_dict
    wrapped = get_peft_model(load_model(trellis_run.ckpts, FLOW_NAME),
                             LoraConfig(**info["lora_config"]))
    state = load_file(str(tmp_path / "peft" / PEFT_FILE))
    wrapped.load_state_dict(state, strict=True)
    for key, value in state.items():  # LoRA in fp32; base layers as released
        inner = key.removeprefix("base_model.model.").replace(".base_layer.", ".")
        assert value.dtype == (torch.float32 if ".lora_" in key else _expected_dtype(inner)), key
    inputs = _inputs(trellis_run.base, seed=1)
    assert torch.equal(_out(wrapped.eval(), inputs), _out(trellis_run.peft.eval(), inputs))
    # the run's own adapter file is not that layout (the 69 missing / 20 unexpected)
    other = get_peft_model(load_model(trellis_run.ckpts, FLOW_NAME),
                           LoraConfig(**info["lora_config"]))
    res = other.load_state_dict(load_file(str(trellis_run.run / "adapter.safetensors")),
                                strict=False)
    assert (len(res.missing_keys), len(res.unexpected_keys)) == (69, 20)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """dso-tiny-format weights with the flow stored in fp16 (as shipped) and a 3-step run."""
    root = tmp_path_factory.mktemp("export_tiny")
    weights = write_tiny_weights(root / "weights")
    flow_cfg = json.loads((weights / "flow.json").read_text())
    save_model(load_model(weights, "flow"), weights, "flow", flow_cfg["args"],
               dtype=torch.float16)
    run = root / "run"
    cfg = TrainConfig(dataset="memory", out=str(run), objective="dro", weights=str(weights),
                      steps=3, batch_size=4, lr=1e-2, warmup=0, lora_rank=4, save_every=100)
    gen = get_generator("dso-tiny", weights=weights)
    train(cfg, generator=gen, source=ToySource("dro", 4), progress=False)
    return SimpleNamespace(root=root, weights=weights, run=run)


def _images(k: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(k)]


def test_tiny_export_reloads_with_weights_and_samples_identically(tiny_run, tmp_path):
    result = export(tiny_run.run, tmp_path / "tiny")
    assert "generator.json" in result.files and "decoder.safetensors" in result.files
    stored = load_file(str(tmp_path / "tiny" / "flow.safetensors"))
    assert {v.dtype for v in stored.values()} == {torch.float16}  # as the source stored it
    reloaded = get_generator("dso-tiny", weights=tmp_path / "tiny")
    in_memory = get_generator("dso-tiny", weights=tiny_run.weights)
    in_memory.flow = result.flow
    a = reloaded.generate(_images(), n=2, seed=5)
    b = in_memory.generate(_images(), n=2, seed=5)
    assert all(torch.equal(x.latent, y.latent) for x, y in zip(a, b, strict=True))
    assert all(np.array_equal(x.occupancy, y.occupancy) for x, y in zip(a, b, strict=True))
    # close to the fp32 merge of the same adapter, and away from the base model
    merged = load_adapter(get_generator("dso-tiny", weights=tiny_run.weights), tiny_run.run)
    base = get_generator("dso-tiny", weights=tiny_run.weights)
    c = merged.generate(_images(), n=2, seed=5)
    d = base.generate(_images(), n=2, seed=5)
    near = max(float((x.latent - y.latent).abs().max()) for x, y in zip(a, c, strict=True))
    far = max(float((x.latent - y.latent).abs().max()) for x, y in zip(a, d, strict=True))
    assert near < 0.05 < far


def _cli(*args) -> object:
    return CliRunner().invoke(app, ["export", *map(str, args)])


def test_export_cli_writes_once_and_reports_bad_input(tiny_run, tmp_path):
    out = tmp_path / "cli"
    ok = _cli(tiny_run.run, "--out", out, "--quiet")
    assert ok.exit_code == 0, ok.output
    assert "exported dso-tiny flow (released" in ok.output
    first = (out / "flow.safetensors").read_bytes()
    again = _cli(tiny_run.run, "--out", out, "--quiet")
    assert again.exit_code == 2 and "already exists" in again.output
    assert _cli(tiny_run.run, "--out", out, "--force", "--quiet").exit_code == 0
    assert (out / "flow.safetensors").read_bytes() == first  # deterministic
    for args, message in [((tmp_path / "nope", "--out", tmp_path / "x"), "run folder not found"),
                          ((tiny_run.weights, "--out", tmp_path / "x"), "not a training run"),
                          ((tiny_run.run / "adapter.safetensors", "--out", tmp_path / "x"),
                           "is a file: give the run's folder"),
                          ((tiny_run.run, "--out", tmp_path / "x", "--format", "onnx"),
                           "unknown format")]:
        bad = _cli(*args)
        assert bad.exit_code == 2, bad.output
        assert message in bad.output and len(bad.output.strip().splitlines()) == 1
        assert "Traceback" not in bad.output
    assert not (tmp_path / "x").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_exported_and_trained_weights_get_the_umask_permissions(tiny_run, tmp_path):
    # safetensors' save_file and mkdtemp make owner-only files and folders; weights copied to
    # /models for other users or services must be readable as any file written here is
    import os
    import stat

    from dso.models.loading import default_mode

    old = os.umask(0o022)
    try:
        out = tmp_path / "shared"
        assert _cli(tiny_run.run, "--out", out, "--quiet").exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    # the run's adapter was written under this process's own umask
    assert stat.S_IMODE((tiny_run.run / "adapter.safetensors").stat().st_mode) == default_mode()


def test_an_unfinished_run_is_exported_from_its_checkpoint_with_a_note(tiny_run, tmp_path):
    import shutil

    from dso.train.checkpoint import adapter_step, list_checkpoints, unfinished_note

    assert unfinished_note(tiny_run.run) is None and adapter_step(tiny_run.run) is None
    run = tmp_path / "stopped"
    shutil.copytree(tiny_run.run, run)
    (run / "adapter.safetensors").unlink()  # as a run killed before its last step leaves it
    step = list_checkpoints(run)[-1][0]
    assert adapter_step(run) == step
    result = _cli(run, "--out", tmp_path / "x", "--quiet")
    assert result.exit_code == 0, result.output
    assert f"has not finished (no adapter.safetensors): using its checkpoint of step {step} " \
           "of 3; finish it with dso train --resume" in result.stderr
