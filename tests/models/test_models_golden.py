"""The vendored TRELLIS golden vectors (tests/models/golden/) reproduce to ~1e-5 (fp32, CPU)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from dso.models.flow import SparseStructureFlowModel, sincos_pos_emb
from dso.models.sampler import SamplerConfig, sample
from dso.models.vae import SparseStructureDecoder, SparseStructureEncoder
from tests.models.models_testlib import GOLDEN_DIR

GOLDEN = GOLDEN_DIR
TOL = 1e-5


def _golden(name: str) -> tuple[dict, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    configs = json.loads((GOLDEN / "configs.json").read_text())
    data = load_file(str(GOLDEN / f"{name}.safetensors"))
    weights = {k.removeprefix("weights."): v for k, v in data.items() if k.startswith("weights.")}
    args = {k: v for k, v in configs[name].items() if k != "call"}
    return args, weights, data


@pytest.mark.parametrize("name", ["flow_p1", "flow_p2"])
def test_flow_matches_reference(name: str) -> None:
    args, weights, data = _golden(name)
    model = SparseStructureFlowModel(**args).eval()
    model.load_state_dict(weights, strict=True)
    with torch.no_grad():
        v = model(data["input.x"], data["input.t"], data["input.cond"])
    assert v.shape == data["output.v"].shape
    assert (v - data["output.v"]).abs().max() < TOL


@pytest.mark.parametrize("name", ["flow_p1", "flow_p2"])
def test_pos_emb_buffer_is_the_fixed_sincos(name: str) -> None:
    args, weights, _ = _golden(name)
    grid = args["resolution"] // args["patch_size"]
    ours = sincos_pos_emb(grid, args["model_channels"])
    assert torch.allclose(ours, weights["pos_emb"], atol=1e-6)


def test_decoder_matches_reference() -> None:
    args, weights, data = _golden("ss_dec")
    model = SparseStructureDecoder(**args).eval()
    model.load_state_dict(weights, strict=True)
    with torch.no_grad():
        logits = model(data["input.z"])
    assert logits.shape == (2, 1, 32, 32, 32)
    assert (logits - data["output.logits"]).abs().max() < TOL


def test_encoder_posterior_mean_matches_reference() -> None:
    args, weights, data = _golden("ss_enc")
    model = SparseStructureEncoder(**args).eval()
    model.load_state_dict(weights, strict=True)
    with torch.no_grad():
        mean = model(data["input.occupancy"], sample_posterior=False)
    assert mean.shape == (2, 8, 8, 8, 8)
    assert (mean - data["output.mean"]).abs().max() < TOL


def test_sampler_trajectory_matches_reference() -> None:
    configs = json.loads((GOLDEN / "configs.json").read_text())["sampler"]
    args, weights, data = _golden("flow_p1")
    model = SparseStructureFlowModel(**args).eval()
    model.load_state_dict(weights, strict=True)
    cfg = SamplerConfig(
        steps=configs["steps"],
        guidance=configs["cfg_strength"],
        cfg_interval=tuple(configs["cfg_interval"]),
        rescale_t=configs["rescale_t"],
        sigma_min=configs["sigma_min"],
    )
    x, traj = sample(
        model, data["sampler.noise"], data["sampler.cond"], cfg, return_trajectory=True
    )
    assert len(traj) == configs["steps"] + 1
    assert (x - data["sampler.samples"]).abs().max() < TOL
    # guidance matters: without it the result is far from the reference
    plain = sample(model, data["sampler.noise"], data["sampler.cond"], cfg.override(guidance=0.0))
    assert (plain - data["sampler.samples"]).abs().max() > 1e-3
