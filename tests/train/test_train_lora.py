"""LoRA on the flow transformer: which layers, what trains, the disabled-adapter reference."""

import pytest
import torch

from dso.train.lora import LoraSpec, apply_lora, present_targets
from tests.train.train_fixtures import one_thread, tiny_flow  # noqa: F401

SPEC = LoraSpec(rank=4, alpha=8.0, dropout=0.0, targets=("to_q", "to_kv", "to_out", "to_qkv"))

pytestmark = pytest.mark.usefixtures("one_thread")


def _inputs():
    g = torch.Generator().manual_seed(0)
    return (torch.randn(2, 2, 4, 4, 4, generator=g), torch.full((2,), 500.0),
            torch.randn(2, 4, 16, generator=g))


def test_only_lora_weights_of_the_attention_layers_train():
    model = apply_lora(tiny_flow(), SPEC)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    wrapped = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable}
    assert wrapped == {"to_q", "to_kv", "to_out", "to_qkv"}
    # 2 blocks x (self: to_qkv, to_out; cross: to_q, to_kv, to_out) x (A, B)
    assert len(trainable) == 2 * 5 * 2


def test_fresh_adapter_equals_base_and_disable_gives_the_reference():
    base = tiny_flow()
    x, t, cond = _inputs()
    with torch.no_grad():
        want = base(x, t, cond)
    model = apply_lora(tiny_flow(), SPEC)
    with torch.no_grad():
        assert torch.allclose(model(x, t, cond), want, atol=1e-6)  # LoRA B starts at zero
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
        moved = model(x, t, cond)
        with model.disable_adapter():
            ref = model(x, t, cond)
    assert not torch.allclose(moved, want, atol=1e-4)
    assert torch.allclose(ref, want, atol=1e-6)


def test_missing_targets_are_an_error():
    flow = tiny_flow()
    assert present_targets(flow, ("to_q", "nope")) == ["to_q"]
    with pytest.raises(ValueError, match="none of the LoRA targets"):
        apply_lora(flow, LoraSpec(4, 8.0, 0.0, ("nope",)))


def test_saved_adapter_round_trips_and_leaves_no_temporary_file(tmp_path):
    from dso.train.lora import ADAPTER_CONFIG, ADAPTER_FILE, load_adapter_state, save_adapter

    model = apply_lora(tiny_flow(), SPEC)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    save_adapter(model, SPEC, tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(
        [ADAPTER_CONFIG, ADAPTER_FILE])  # written under temporary names, then renamed
    other = apply_lora(tiny_flow(), SPEC)
    load_adapter_state(other, tmp_path / "run")
    x, t, cond = _inputs()
    with torch.no_grad():
        assert torch.allclose(other(x, t, cond), model(x, t, cond), atol=1e-6)
