"""TRELLIS.2 stage 1 behind the Generator interface, from a tiny TRELLIS.2-format folder with
random weights and a tiny random DINOv3 saved locally (tests/models/trellis2_weights.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from dso.models import get_generator
from dso.models.loading import ModelLoadError, load_model
from dso.models.preprocess import prepare_image
from dso.models.trellis import DECODER_NAME
from dso.models.trellis2 import FLOW_NAME, SAMPLER, Trellis2Generator
from tests.models.models_testlib import GOLDEN2_DIR, assert_generates_8cubed, final_norm_input
from tests.models.trellis2_weights import FLOW, random_trellis2_weights

transformers = pytest.importorskip("transformers")
if not hasattr(transformers, "DINOv3ViTModel"):
    pytest.skip(f"transformers {transformers.__version__} has no DINOv3", allow_module_level=True)


@pytest.fixture(scope="module")
def trellis2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_trellis2_weights(tmp_path_factory.mktemp("trellis2"))


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_dinov3_tokens_follow_the_trellis2_convention(trellis2_dir: Path) -> None:
    gen = get_generator("trellis2", weights=trellis2_dir)
    assert gen.cond_encoder.image_size == 512
    images = [np.full((64, 64, 3), 40 * k, dtype=np.uint8) for k in range(2)]
    cond = gen.condition(images)
    assert cond.shape == (2, 1029, 32)  # CLS + 4 registers + 32 x 32 patches
    # the features are all layers' output before the model's own final norm, then a plain norm
    model = gen.cond_encoder.model
    pixels = (torch.full((1, 3, 512, 512), 40 / 255) - gen.cond_encoder.mean) / gen.cond_encoder.std
    pre, out = final_norm_input(model, model.norm, pixels)
    with torch.no_grad():
        assert torch.allclose(model.norm(pre), out.last_hidden_state, atol=1e-5)
    assert torch.allclose(cond[1], F.layer_norm(pre, pre.shape[-1:])[0], atol=1e-4)
    assert not torch.allclose(cond[1], out.last_hidden_state[0], atol=1e-2)  # not the final norm


def test_trellis2_generates_through_the_interface(trellis2_dir: Path) -> None:
    gen = get_generator("trellis2", weights=trellis2_dir)
    assert gen.name == "trellis2" and gen.sampler == SAMPLER
    # the pipeline's stage-1 defaults, as the vendored reference facts state them
    ref = json.loads((GOLDEN2_DIR / "configs.json").read_text())
    ref = ref["pipeline_sparse_structure_defaults"]
    assert (SAMPLER.steps, SAMPLER.guidance, SAMPLER.guidance_rescale, SAMPLER.rescale_t,
            list(SAMPLER.cfg_interval), SAMPLER.guidance_form) == (
        ref["steps"], ref["guidance_strength"], ref["guidance_rescale"], ref["rescale_t"],
        ref["guidance_interval"], "trellis2")
    # dso computes in float32 (the file's bf16 blocks are cast up); rope_phases stays complex
    assert all(p.dtype == torch.float32 for p in gen.flow.parameters())
    assert gen.flow.rope_phases.dtype == torch.complex64
    assert_generates_8cubed(gen, steps=3)


def test_rgba_prompts_are_cropped_with_no_margin() -> None:
    rgba = np.zeros((100, 100, 4), dtype=np.uint8)
    rgba[20:60, 30:70] = 255  # a 40 x 40 opaque white square
    tight = prepare_image(rgba, 40, margin=Trellis2Generator.crop_margin)
    assert tight.min() == 255  # the crop is the square itself
    assert prepare_image(rgba, 40)[0, 0].max() == 0  # TRELLIS's 1.2 margin shows black border


def test_missing_files_are_named(trellis2_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=f"{FLOW_NAME}.json not found"):
        get_generator("trellis2", weights=tmp_path)
    no_dec = _copy(trellis2_dir, tmp_path / "no_dec")
    for ext in ("json", "safetensors"):
        (no_dec / "ckpts" / f"{DECODER_NAME}.{ext}").unlink()
    with pytest.raises(ModelLoadError, match="TRELLIS-image-large"):
        get_generator("trellis2", weights=no_dec)
    with pytest.raises(FileNotFoundError, match="no DINOv3 model"):
        Trellis2Generator.load(trellis2_dir, dinov3=tmp_path)


def test_loading_is_strict(trellis2_dir: Path, tmp_path: Path) -> None:
    folder = _copy(trellis2_dir, tmp_path / "t2")
    path = folder / "ckpts" / f"{FLOW_NAME}.safetensors"
    state = load_file(str(path))
    save_file({**state, "blocks.0.extra": torch.zeros(2)}, str(path))
    with pytest.raises(ModelLoadError, match="unexpected keys: blocks.0.extra"):
        get_generator("trellis2", weights=folder)
    save_file({k: v for k, v in state.items() if k != "blocks.1.modulation"}, str(path))
    with pytest.raises(ModelLoadError, match="missing keys: blocks.1.modulation"):
        get_generator("trellis2", weights=folder)
    save_file({**state, "rope_phases": state["rope_phases"].conj().resolve_conj()}, str(path))
    with pytest.raises(ModelLoadError, match="rope_phases differ"):
        get_generator("trellis2", weights=folder)
    # a file without rope_phases (a fixed function of the args) loads to the same model
    save_file({k: v for k, v in state.items() if k != "rope_phases"}, str(path))
    without = load_model(path.parent, FLOW_NAME)
    assert torch.equal(without.rope_phases, load_model(trellis2_dir / "ckpts",
                                                       FLOW_NAME).rope_phases)


def test_a_v1_flow_under_the_trellis2_name_is_refused(trellis2_dir: Path, tmp_path: Path) -> None:
    folder = _copy(trellis2_dir, tmp_path / "v1")
    from dso.models.flow import SparseStructureFlowModel
    from dso.models.loading import save_model

    v1 = dict(FLOW, pe_mode="ape", share_mod=False, qk_rms_norm_cross=False)
    save_model(SparseStructureFlowModel(**v1), folder / "ckpts", FLOW_NAME, v1)
    with pytest.raises(ModelLoadError, match="does not describe a TRELLIS.2 flow"):
        get_generator("trellis2", weights=folder)


@pytest.mark.parametrize("bad, message", [
    (dict(patch_size=2), "no patchify"),
    (dict(use_fp16=True), "not v1's use_fp16"),
    (dict(pe_mode="learned"), "pe_mode must be"),
    (dict(dtype="float8"), "dtype must be one of"),
    (dict(model_channels=8, num_heads=2), "even head dimension of at least 6"),
])
def test_unsupported_option_combinations_raise(bad: dict, message: str) -> None:
    from dso.models.flow import SparseStructureFlowModel

    with pytest.raises(ValueError, match=message):
        SparseStructureFlowModel(**{**FLOW, **bad})


def test_lora_targets_name_the_trellis2_attention_layers(trellis2_dir: Path) -> None:
    """dso's default targets wrap all five attention projections of every block, nothing else
    (not the shared adaLN_modulation, the MLP or the learned per-block modulation)."""
    from dso.train.config import TrainConfig
    from dso.train.lora import LoraSpec, apply_lora, present_targets

    flow = load_model(trellis2_dir / "ckpts", FLOW_NAME)
    targets = TrainConfig(dataset="memory", out="unused").lora_targets
    assert present_targets(flow, targets) == list(targets)
    model = apply_lora(flow, LoraSpec(4, 8.0, 0.0, targets))
    wrapped = sorted({n.rsplit(".lora_A", 1)[0].removeprefix("base_model.model.")
                      for n, _ in model.named_parameters() if ".lora_A" in n})
    per_block = ["cross_attn.to_kv", "cross_attn.to_out", "cross_attn.to_q", "self_attn.to_out",
                 "self_attn.to_qkv"]
    assert wrapped == [f"blocks.{i}.{m}" for i in range(FLOW["num_blocks"]) for m in per_block]


def test_flow_json_keeps_the_released_args(trellis2_dir: Path) -> None:
    cfg = json.loads((trellis2_dir / "ckpts" / f"{FLOW_NAME}.json").read_text())
    assert cfg == {"name": "SparseStructureFlowModel", "args": FLOW}


def test_a_transformers_without_dinov3_is_a_clear_error(trellis2_dir: Path, monkeypatch) -> None:
    from types import SimpleNamespace

    import dso.models.encoders as encoders
    from dso._optional import MissingDependency

    old = SimpleNamespace(__version__="4.45.0")  # a transformers from before DINOv3 (4.56)
    monkeypatch.setattr(encoders, "require", lambda *args: old)
    with pytest.raises(MissingDependency, match="transformers 4.45.0 has no DINOv3ViTModel"):
        get_generator("trellis2", weights=trellis2_dir)


def test_cli_names_a_missing_trellis2_file_in_one_line(tmp_path: Path) -> None:
    from PIL import Image
    from typer.testing import CliRunner

    from dso.cli import app

    rgba = np.zeros((16, 16, 4), dtype=np.uint8)
    rgba[4:12, 4:12] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "p.png")
    result = CliRunner().invoke(app, ["generate", "--generator", "trellis2", "--weights",
                                      str(tmp_path), "--images", str(tmp_path / "p.png"),
                                      "--n", "1", "--out", str(tmp_path / "ds"), "--quiet"])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {FLOW_NAME}.json not found in {tmp_path}")
    assert "Traceback" not in result.output


def test_rope_phases_stay_complex_through_dtype_casts_and_to_empty() -> None:
    from dso.models.flow import SparseStructureFlowModel
    from dso.models.rope import rope_phases

    want = rope_phases(FLOW["resolution"], FLOW["model_channels"] // FLOW["num_heads"])
    flow = SparseStructureFlowModel(**FLOW)
    for cast in (lambda m: m.to(torch.float32), lambda m: m.to(torch.bfloat16), lambda m: m.half()):
        flow = cast(flow)
        assert torch.equal(flow.rope_phases, want)
    with torch.device("meta"):
        meta = SparseStructureFlowModel(**FLOW)
    assert meta.rope_phases.is_meta and meta.rope_phases.dtype == torch.complex64
    assert torch.equal(meta.to_empty(device="cpu").rope_phases, want)  # rebuilt, not garbage
