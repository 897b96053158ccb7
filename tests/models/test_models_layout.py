"""Models built from official_layout.json's args have exactly the released keys and shapes."""

from __future__ import annotations

import json

import pytest
import torch

from dso.models.loading import build_model
from tests.models.models_testlib import GOLDEN_DIR

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
