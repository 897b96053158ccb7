"""Strict loading of `<name>.json` + `<name>.safetensors` with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from dso.models.flow import SparseStructureFlowModel
from dso.models.loading import ModelLoadError, load_model, save_model

ARGS = {
    "resolution": 4,
    "in_channels": 2,
    "out_channels": 2,
    "model_channels": 24,
    "cond_channels": 8,
    "num_blocks": 1,
    "num_heads": 2,
    "mlp_ratio": 2,
    "patch_size": 2,
    "pe_mode": "ape",
    "qk_rms_norm": True,
    "use_fp16": True,
}


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, SparseStructureFlowModel]:
    torch.manual_seed(0)
    model = SparseStructureFlowModel(**ARGS)
    for p in model.parameters():  # non-trivial weights (out_layer and adaLN start at zero)
        torch.nn.init.normal_(p, std=0.2)
    save_model(model, tmp_path, "flow", ARGS)
    return tmp_path, model


def _edit(path: Path, fn) -> None:
    state = load_file(str(path / "flow.safetensors"))
    save_file(fn(state), str(path / "flow.safetensors"))


def _inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return (
        torch.randn(3, 2, 4, 4, 4, generator=g),
        torch.rand(3, generator=g) * 1000,
        torch.randn(3, 5, 8, generator=g),
    )


def test_roundtrip_reproduces_outputs(saved) -> None:
    path, model = saved
    assert json.loads((path / "flow.json").read_text())["name"] == "SparseStructureFlowModel"
    loaded = load_model(path, "flow")
    x, t, c = _inputs()
    with torch.no_grad():
        assert torch.equal(loaded(x, t, c), model.eval()(x, t, c))


def test_missing_and_unexpected_keys_are_named(saved) -> None:
    path, _ = saved

    def drop_and_add(state):
        state.pop("blocks.0.self_attn.to_qkv.weight")
        state["blocks.7.extra"] = torch.zeros(1)
        return state

    _edit(path, drop_and_add)
    with pytest.raises(
        ModelLoadError, match=r"missing keys: blocks\.0\.self_attn\.to_qkv\.weight"
    ) as err:
        load_model(path, "flow")
    assert "unexpected keys: blocks.7.extra" in str(err.value)


def test_shape_mismatch_is_named(saved) -> None:
    path, _ = saved
    _edit(path, lambda s: {**s, "out_layer.bias": torch.zeros(3)})
    with pytest.raises(ModelLoadError, match=r"shape mismatch: out_layer\.bias \(3,\) != \(16,\)"):
        load_model(path, "flow")


def test_fp16_blocks_are_cast_or_refused(saved) -> None:
    path, model = saved
    _edit(path, lambda s: {k: v.half() if k.startswith("blocks.") else v for k, v in s.items()})
    with pytest.raises(ModelLoadError, match=r"dtype \['torch.float16'\].*allow_cast=False"):
        load_model(path, "flow", allow_cast=False)
    loaded = load_model(path, "flow")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x, t, c = _inputs()
    with torch.no_grad():
        ref = model.eval()(x, t, c)
        assert (loaded(x, t, c) - ref).abs().max() < 1e-2 * ref.abs().max()


def test_bad_config_files(tmp_path: Path, saved) -> None:
    path, _ = saved
    with pytest.raises(ModelLoadError, match="missing config file"):
        load_model(tmp_path / "nowhere", "flow")
    (path / "flow.json").write_text(json.dumps({"name": "Nope", "args": {}}))
    with pytest.raises(ModelLoadError, match="unknown model class 'Nope'"):
        load_model(path, "flow")
    (path / "flow.json").write_text(
        json.dumps({"name": "SparseStructureFlowModel", "args": {"bogus": 1}})
    )
    with pytest.raises(ModelLoadError, match="bad arguments"):
        load_model(path, "flow")
    (path / "flow.json").write_text(json.dumps({"name": "SparseStructureFlowModel", "args": ARGS}))
    (path / "flow.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="missing weights file"):
        load_model(path, "flow")


def test_a_truncated_weights_file_is_named(saved) -> None:
    path, _ = saved
    weights = path / "flow.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])
    with pytest.raises(ModelLoadError, match="flow.safetensors cannot be read as safetensors"):
        load_model(path, "flow")


def test_nan_or_infinite_weights_are_refused_naming_file_and_tensor(saved) -> None:
    path, _ = saved

    def poison(state):
        state["out_layer.weight"][0, 0] = float("nan")
        state["blocks.0.self_attn.to_qkv.weight"][1, 1] = float("inf")
        return state

    _edit(path, poison)
    with pytest.raises(ModelLoadError) as err:
        load_model(path, "flow")
    message = str(err.value)
    assert message.startswith(f"{path / 'flow.safetensors'}: NaN or infinite values in ")
    assert "blocks.0.self_attn.to_qkv.weight" in message and "out_layer.weight" in message
    assert "\n" not in message
