"""Models built from official_layout.json's args (TRELLIS and TRELLIS.2) have exactly the released
keys and shapes (and, for TRELLIS.2, dtypes)."""

from __future__ import annotations

import json

import pytest
import torch

from dso.models.loading import args_blocks_dtype, build_model, release_dtypes
from tests.models.models_testlib import GOLDEN2_DIR, GOLDEN_DIR

LAYOUT = GOLDEN_DIR / "official_layout.json"

CLASSES = {
    "ss_flow_img_dit_L_16l8_fp16": "SparseStructureFlowModel",
    "ss_dec_conv3d_16l8_fp16": "SparseStructureDecoder",
    "ss_enc_conv3d_16l8_fp16": "SparseStructureEncoder",
}


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_meta_model_has_exactly_the_released_keys_and_shapes(name: str) -> None:
    layout = json.loads(LAYOUT.read_text())[name]
    model = build_model({"name": CLASSES[name], "args": layout["args"]}, device="meta")
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert all(v.is_meta for v in model.state_dict().values())  # nothing was allocated
    assert set(ours) == set(layout["state_dict"])
    assert ours == layout["state_dict"]


def test_released_flow_has_555m_parameters() -> None:
    layout = json.loads(LAYOUT.read_text())["ss_flow_img_dit_L_16l8_fp16"]
    model = build_model({"name": "SparseStructureFlowModel", "args": layout["args"]}, "meta")
    n_params = sum(p.numel() for p in model.parameters())
    assert 555_000_000 < n_params < 556_000_000
    n_layout = sum(torch.Size(s).numel() for k, s in layout["state_dict"].items() if k != "pos_emb")
    assert n_params == n_layout


def test_released_args_constants_match_the_layout() -> None:
    from dso.models.trellis import RELEASED_ARGS

    layout = json.loads(LAYOUT.read_text())
    assert all(layout[name]["args"] == args for name, args in RELEASED_ARGS.items())


LAYOUT2 = json.loads((GOLDEN2_DIR / "official_layout.json").read_text())
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "complex64": torch.complex64}


@pytest.mark.parametrize("variant", ["as_released_bf16", "repo_config_default_dtype"])
def test_trellis2_meta_model_has_exactly_the_released_keys_shapes_and_dtypes(variant: str) -> None:
    layout = LAYOUT2[variant]
    model = build_model({"name": LAYOUT2["name"], "args": layout["constructor_args"]}, "meta")
    state = model.state_dict()
    assert all(v.is_meta for v in state.values())
    want = layout["state_dict"]
    assert {k: list(v.shape) for k, v in state.items()} == {k: v["shape"] for k, v in want.items()}
    assert {k: v.dtype for k, v in state.items()} == {k: _DTYPES[v["dtype"]]
                                                      for k, v in want.items()}
    assert sum(p.numel() for p in model.parameters()) == layout["param_count"] == 1_292_179_976


def test_trellis2_release_dtypes_follow_the_layout() -> None:
    """What `dso export` writes for a TRELLIS.2 flow: the released model's dtypes, key by key."""
    layout = LAYOUT2["as_released_bf16"]
    args = layout["constructor_args"]
    model = build_model({"name": LAYOUT2["name"], "args": args}, "meta").float()
    assert all(v.dtype != torch.bfloat16 for v in model.state_dict().values())
    dtypes = release_dtypes(model, args_blocks_dtype(args))
    want = {k: _DTYPES[v["dtype"]] for k, v in layout["state_dict"].items()}
    assert {k: dtypes.get(k, v.dtype) for k, v in model.state_dict().items()} == want


def test_trellis2_released_args_constant_matches_the_layout() -> None:
    from dso.models.trellis2 import FLOW_NAME, RELEASED_ARGS

    assert RELEASED_ARGS[FLOW_NAME] == LAYOUT2["as_released_bf16"]["constructor_args"]
