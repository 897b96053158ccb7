"""A TRELLIS.2 round trip at tiny size: `dso generate --generator trellis2` -> `dso label` (the
real oracle) -> `dso train` (a few DRO steps, guided loss in TRELLIS.2's guidance form) ->
`export` (TRELLIS.2's released file pair) -> the exported files reloaded as a `trellis2`
generator give outputs identical to the exported model in memory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from dso.cli import app
from dso.models import get_generator
from dso.models.flow import SparseStructureFlowModel
from dso.models.trellis2 import FLOW_NAME
from tests.models.trellis2_weights import random_trellis2_weights

transformers = pytest.importorskip("transformers")
if not hasattr(transformers, "DINOv3ViTModel"):
    pytest.skip(f"transformers {transformers.__version__} has no DINOv3", allow_module_level=True)

# the Linear layers inside the blocks: what TRELLIS.2 holds (and dso exports) in bf16
BLOCK_LINEAR = ("self_attn.to_qkv", "self_attn.to_out", "cross_attn.to_q", "cross_attn.to_kv",
                "cross_attn.to_out", "mlp.mlp.0", "mlp.mlp.2")


def _expected_dtype(key: str) -> torch.dtype:
    if key == "rope_phases":
        return torch.complex64
    inner = key.split(".", 2)[-1].rsplit(".", 1)[0] if key.startswith("blocks.") else ""
    return torch.bfloat16 if inner in BLOCK_LINEAR else torch.float32


def _images(folder: Path, n: int = 3) -> Path:
    """RGBA prompts: coloured boxes on transparency (cropped to the object by the generator)."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        img = np.zeros((48, 48, 4), dtype=np.uint8)
        img[8 + i:40, 12:36 - i, :3] = rng.integers(0, 256, 3)
        img[8 + i:40, 12:36 - i, 3] = 255
        Image.fromarray(img, "RGBA").save(folder / f"p{i}.png")
    return folder


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture()
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_generate_label_train_export_reload(tmp_path: Path, one_thread) -> None:
    from dso.data import SampleStore
    from dso.train import export

    weights = random_trellis2_weights(tmp_path / "TRELLIS.2-4B")
    ds, run = tmp_path / "ds", tmp_path / "run"
    _run("generate", "--generator", "trellis2", "--weights", weights,
         "--images", _images(tmp_path / "prompts"), "--n", "4", "--out", ds, "--quiet")
    _run("label", ds, "--workers", "1", "--quiet")
    with SampleStore.open(ds) as store:
        meta, rows = store.meta(), store.labelled()
    assert meta["generator"] == "trellis2" and meta["sampler"]["guidance_form"] == "trellis2"
    stable = sum(bool(r.stable) for r in rows)
    assert len(rows) == 12 and 0 < stable < 12, "DRO needs both outcomes"
    _run("train", ds, "--objective", "dro", "--out", run, "--weights", weights, "--steps", "3",
         "--batch-size", "4", "--lr", "1e-2", "--warmup", "0", "--rank", "4", "--alpha", "8",
         "--guided-loss", "--quiet")
    assert json.loads((run / "config.json").read_text())["generator"] == "trellis2"

    result = export(run, tmp_path / "exported")
    assert result.generator == "trellis2"
    assert result.files == [f"{FLOW_NAME}.json", f"{FLOW_NAME}.safetensors"]
    source_json = json.loads((weights / "ckpts" / f"{FLOW_NAME}.json").read_text())
    out = tmp_path / "exported"
    assert json.loads((out / f"{FLOW_NAME}.json").read_text()) == source_json
    state = load_file(str(out / f"{FLOW_NAME}.safetensors"))
    assert {k: v.dtype for k, v in state.items()} == {k: _expected_dtype(k) for k in state}
    # what TRELLIS.2's from_pretrained does: build from args, load the tensors (here strictly)
    SparseStructureFlowModel(**source_json["args"]).load_state_dict(state, strict=True)

    # reload: the user's folder with the exported flow in place of the released one
    reloaded_dir = tmp_path / "TRELLIS.2-4B-dso"
    shutil.copytree(weights, reloaded_dir)
    for name in result.files:
        shutil.copy2(out / name, reloaded_dir / "ckpts" / name)
    reloaded = get_generator("trellis2", weights=reloaded_dir)
    base = get_generator("trellis2", weights=weights)
    cond = base.condition([np.asarray(Image.open(tmp_path / "prompts" / "p0.png"))] * 2)
    fresh = reloaded.sample_latents(cond, [5, 6], steps=4)
    base.flow = result.flow  # the exported model in memory, on the same decoder and sampler
    assert torch.equal(fresh, base.sample_latents(cond, [5, 6], steps=4))
    assert np.array_equal(reloaded.decode(fresh), base.decode(fresh))
    original = get_generator("trellis2", weights=weights).sample_latents(cond, [5, 6], steps=4)
    assert (fresh - original).abs().max() > 1e-3  # the fine-tune changed the flow


def test_cli_and_peft_exports_of_a_trellis2_run(tmp_path: Path, one_thread) -> None:
    """`dso export` names the release; `--format peft` keeps rope_phases complex and loads
    strictly into the PEFT-wrapped flow."""
    from peft import LoraConfig, get_peft_model

    from dso.models.loading import load_model
    from dso.objectives.base import Batch
    from dso.train import TrainConfig, train
    from dso.train.exporter import PEFT_CONFIG, PEFT_FILE

    weights = random_trellis2_weights(tmp_path / "w")
    flow = load_model(weights / "ckpts", FLOW_NAME)
    g = torch.Generator().manual_seed(0)
    data = Batch(x0=torch.randn(4, 8, 4, 4, 4, generator=g),
                 cond=torch.randn(4, 5, 32, generator=g), stable=torch.arange(4) < 2)
    source = SimpleNamespace(batch=lambda step: data)
    cfg = TrainConfig(dataset="memory", out=str(tmp_path / "run"), objective="dro",
                      generator="trellis2", weights=str(weights), steps=2, batch_size=4,
                      lr=1e-2, warmup=0, lora_rank=4, lora_alpha=8.0)
    train(cfg, generator=SimpleNamespace(flow=flow), source=source, progress=False)
    out = _run("export", tmp_path / "run", "--out", tmp_path / "cli", "--quiet")
    assert out.startswith("exported trellis2 flow (released") and FLOW_NAME in out
    _run("export", tmp_path / "run", "--out", tmp_path / "peft", "--format", "peft", "--quiet")
    info = json.loads((tmp_path / "peft" / PEFT_CONFIG).read_text())
    state = load_file(str(tmp_path / "peft" / PEFT_FILE))
    assert state["base_model.model.rope_phases"].dtype == torch.complex64
    wrapped = get_peft_model(load_model(weights / "ckpts", FLOW_NAME),
                             LoraConfig(**info["lora_config"]))
    wrapped.load_state_dict(state, strict=True)
    assert torch.equal(wrapped.base_model.model.rope_phases, flow.rope_phases)
