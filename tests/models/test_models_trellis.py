"""TRELLIS stage 1 behind the Generator interface, with small random models in the released
format and a tiny randomly initialised DINOv2-with-registers saved locally (no hub access)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dso.models import get_generator
from dso.models.flow import SparseStructureFlowModel
from dso.models.loading import ModelLoadError, save_model
from dso.models.trellis import DECODER_NAME, ENCODER_NAME, FLOW_NAME
from dso.models.vae import SparseStructureDecoder, SparseStructureEncoder
from tests.models.models_testlib import assert_generates_8cubed, final_norm_input, randomise

transformers = pytest.importorskip("transformers")

FLOW = dict(
    resolution=4,
    in_channels=8,
    out_channels=8,
    model_channels=32,
    cond_channels=32,
    num_blocks=1,
    num_heads=2,
    mlp_ratio=4,
    patch_size=1,
    pe_mode="ape",
    qk_rms_norm=True,
    use_fp16=True,
)
DEC = dict(
    out_channels=1,
    latent_channels=8,
    num_res_blocks=1,
    num_res_blocks_middle=1,
    channels=[16, 8],
    use_fp16=True,
)
ENC = dict(
    in_channels=1,
    latent_channels=8,
    num_res_blocks=1,
    num_res_blocks_middle=1,
    channels=[8, 16],
    use_fp16=True,
)


@pytest.fixture(scope="module")
def trellis_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("trellis")
    ckpts = root / "ckpts"
    save_model(randomise(SparseStructureFlowModel(**FLOW)), ckpts, FLOW_NAME, FLOW)
    save_model(randomise(SparseStructureDecoder(**DEC), 0.1), ckpts, DECODER_NAME, DEC)
    save_model(randomise(SparseStructureEncoder(**ENC), 0.1), ckpts, ENCODER_NAME, ENC)
    config = transformers.Dinov2WithRegistersConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        mlp_ratio=2,
        image_size=518,
        patch_size=14,
        num_register_tokens=4,
    )
    transformers.Dinov2WithRegistersModel(config).save_pretrained(root / "dinov2")
    return root


def test_dinov2_tokens_follow_trellis_convention(trellis_dir: Path) -> None:
    gen = get_generator("trellis", weights=trellis_dir)
    images = [np.full((64, 64, 3), 40 * k, dtype=np.uint8) for k in range(2)]
    cond = gen.condition(images)
    assert cond.shape == (2, 1374, 32)  # 1 cls + 4 registers + 37 x 37 patches
    # the features are the last block's output before the final norm, then a plain layer norm
    model = gen.cond_encoder.model
    pixels = (torch.zeros(1, 3, 518, 518) - gen.cond_encoder.mean) / gen.cond_encoder.std
    pre, out = final_norm_input(model, model.layernorm, pixels)
    assert torch.allclose(model.layernorm(pre), out.last_hidden_state, atol=1e-5)
    assert torch.allclose(cond[0], F.layer_norm(pre, pre.shape[-1:])[0], atol=1e-4)


def test_trellis_generates_through_the_interface(trellis_dir: Path) -> None:
    gen = get_generator("trellis", weights=trellis_dir)
    assert all(p.dtype == torch.float32 for p in gen.flow.parameters())
    assert_generates_8cubed(gen, steps=2)


def test_trellis_errors_are_clear(trellis_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=f"{FLOW_NAME}.json not found"):
        get_generator("trellis", weights=tmp_path)
    with pytest.raises(FileNotFoundError, match="no DINOv2 model"):
        from dso.models.trellis import TrellisGenerator

        TrellisGenerator.load(trellis_dir, dinov2=tmp_path)


def _small_vit(cls_name: str, **extra):
    config_cls = getattr(transformers, cls_name.replace("Model", "Config"))
    config = config_cls(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, mlp_ratio=2,
                        image_size=518, patch_size=14, **extra)
    return getattr(transformers, cls_name)(config)


def test_dinov2_without_registers_is_refused(tmp_path: Path) -> None:
    from dso.models.encoders import Dinov2Condition

    # facebook/dinov2-large has no register tokens: transformers would make them up at random
    _small_vit("Dinov2Model").save_pretrained(tmp_path / "noreg")
    with pytest.raises(ValueError, match="not a Dinov2WithRegistersModel checkpoint"):
        Dinov2Condition(tmp_path / "noreg")


def test_dinov2_loads_in_float32_whatever_it_was_saved_in(tmp_path: Path) -> None:
    from dso.models.encoders import Dinov2Condition

    torch.manual_seed(0)
    model = _small_vit("Dinov2WithRegistersModel", num_register_tokens=4)
    model.to(torch.bfloat16).save_pretrained(tmp_path / "bf16")
    encoder = Dinov2Condition(tmp_path / "bf16")
    assert {p.dtype for p in encoder.model.parameters()} == {torch.float32}
    saved = model.embeddings.register_tokens.detach().float()
    assert torch.equal(encoder.model.embeddings.register_tokens.detach(), saved)
    cond = encoder.encode_images([np.full((64, 64, 3), 90, dtype=np.uint8)])
    assert cond.dtype == torch.float32 and cond.shape == (1, 1374, 32)


def test_files_under_another_parts_name_are_refused(trellis_dir: Path, tmp_path: Path) -> None:
    import shutil

    from dso.models.trellis import TrellisGenerator

    for name, other in ((DECODER_NAME, ENCODER_NAME), (FLOW_NAME, DECODER_NAME)):
        folder = tmp_path / name
        shutil.copytree(trellis_dir, folder)
        for ext in ("json", "safetensors"):
            shutil.copyfile(folder / "ckpts" / f"{other}.{ext}", folder / "ckpts" / f"{name}.{ext}")
        with pytest.raises(ModelLoadError, match=f"{name}.json in .* describes a"):
            TrellisGenerator.load(folder)


def test_a_trellis2_flow_is_not_loaded_as_trellis(tmp_path: Path) -> None:
    from dso.models.trellis import TrellisGenerator

    torch.manual_seed(0)
    v2 = {**FLOW, "pe_mode": "rope", "share_mod": True, "use_fp16": False, "dtype": "float32"}
    save_model(randomise(SparseStructureFlowModel(**v2)), tmp_path / "ckpts", FLOW_NAME, v2)
    save_model(randomise(SparseStructureDecoder(**DEC), 0.1), tmp_path / "ckpts", DECODER_NAME,
               DEC)
    with pytest.raises(ModelLoadError, match="use --generator trellis2"):
        TrellisGenerator.load(tmp_path)
