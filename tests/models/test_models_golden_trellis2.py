"""The vendored TRELLIS.2 golden vectors (tests/models/golden/trellis2-stage1/) reproduce to
~1e-5 (fp32, CPU): both flows, the RoPE table and the sampler's whole trajectory."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from dso.models.flow import SparseStructureFlowModel
from dso.models.rope import rope_phases
from dso.models.sampler import SamplerConfig, guide, sample, time_grid
from tests.models.models_testlib import GOLDEN2_DIR

TOL = 1e-5
CONFIGS = json.loads((GOLDEN2_DIR / "configs.json").read_text())


def _golden(name: str, model: str | None = None):
    """(model with the file's weights loaded strictly, the file's tensors)."""
    data = load_file(str(GOLDEN2_DIR / f"{name}.safetensors"))
    weights = {k.removeprefix("weights."): v for k, v in data.items() if k.startswith("weights.")}
    flow = SparseStructureFlowModel(**CONFIGS[model or name]["args"]).eval()
    flow.load_state_dict(weights, strict=True)
    return flow, data


def _sampler_config() -> SamplerConfig:
    raw = CONFIGS["sampler"]
    p = raw["params"]
    return SamplerConfig(steps=p["steps"], guidance=p["guidance_strength"],
                         cfg_interval=tuple(p["guidance_interval"]), rescale_t=p["rescale_t"],
                         guidance_rescale=p["guidance_rescale"], guidance_form="trellis2",
                         sigma_min=raw["constructor"]["sigma_min"])


@pytest.mark.parametrize("name", ["flow_rope", "flow_ape_sharemod"])
def test_flow_matches_reference(name: str) -> None:
    flow, data = _golden(name)
    with torch.no_grad():
        v = flow(data["input.x"], data["input.t"], data["input.cond"])
    assert v.shape == data["output.v"].shape
    assert (v - data["output.v"]).abs().max() < TOL


def test_rope_table_is_the_reference_buffer() -> None:
    _, data = _golden("flow_rope")
    ours = rope_phases(8, 32)  # R 8, head_dim 64 / 2 heads: 5 frequencies per axis + 1 identity
    assert ours.dtype == torch.complex64
    assert torch.allclose(torch.view_as_real(ours), data["aux.rope_phases_real"], atol=1e-6)
    assert torch.equal(ours[:, -1], torch.ones(512, dtype=torch.complex64))  # identity pair


@pytest.mark.parametrize("feature", ["rope", "share_mod", "cross_norm"])
def test_each_option_matters(feature: str) -> None:
    """Switching an option off moves the output far beyond the tolerance (the test can fail)."""
    flow, data = _golden("flow_rope")
    with torch.no_grad():
        if feature == "rope":
            flow.rope_phases.fill_(1)
        elif feature == "share_mod":
            for block in flow.blocks:
                block.modulation.zero_()
        else:
            for block in flow.blocks:
                block.cross_attn.qk_rms_norm = False
        v = flow(data["input.x"], data["input.t"], data["input.cond"])
    assert (v - data["output.v"]).abs().max() > 1e-2


def test_sampler_trajectory_matches_reference() -> None:
    flow, data = _golden("sampler", "flow_rope")
    cfg = _sampler_config()
    assert time_grid(cfg.steps, cfg.rescale_t) == pytest.approx(data["traj.t_seq"].numpy())
    x, traj = sample(flow, data["input.noise"], data["input.cond"], cfg, return_trajectory=True)
    assert len(traj) == cfg.steps + 1
    for i, step in enumerate(traj):
        assert (step - data[f"traj.x.{i}"]).abs().max() < TOL, f"step {i}"
    assert (x - data["output.samples"]).abs().max() < TOL
    # neither the rescale nor the guidance form is idle: without either the result moves
    for change in ({"guidance_rescale": 0.0}, {"guidance_form": "trellis"}):
        other = sample(flow, data["input.noise"], data["input.cond"], cfg.override(**change))
        assert (other - data["output.samples"]).abs().max() > 1e-3, change


def test_guided_velocity_of_each_step_matches_reference() -> None:
    """`guide` turns the reference's v_cond and v_neg into its v (CFG rescale included)."""
    _, data = _golden("sampler", "flow_rope")
    cfg = _sampler_config()
    for i in range(3):  # the guided steps
        t = data[f"traj.model_t.{i}"] / 1000
        v = guide(cfg, data[f"traj.x.{i}"], t, data[f"traj.v_cond.{i}"], data[f"traj.v_neg.{i}"])
        assert (v - data[f"traj.v.{i}"]).abs().max() < TOL
    assert "traj.v_neg.3" not in data  # step 3 (t = 0.5) lies outside [0.6, 1]: v_cond alone
    assert torch.equal(data["traj.v.3"], data["traj.v_cond.3"])


def test_trellis2_guidance_weight_one_is_the_conditional_velocity() -> None:
    cfg = SamplerConfig(guidance=1.0, guidance_form="trellis2", guidance_rescale=0.7)
    g = torch.Generator().manual_seed(0)
    x, pos, neg = (torch.randn(2, 3, 4, generator=g) for _ in range(3))
    assert torch.allclose(guide(cfg, x, torch.tensor([0.9, 0.7]), pos, neg), pos, atol=1e-5)
    with pytest.raises(ValueError, match="guidance_form"):
        SamplerConfig(guidance_form="v3")
