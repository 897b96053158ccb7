"""The DINOv2 / DINOv3 condition encoders take the input of the model's final norm, whatever
`hidden_states[-1]` holds in the installed transformers (4.56 to 4.57.1 put DINOv3's final-norm
output there). Tiny randomly initialised models saved locally, nothing downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.models.models_testlib import final_norm_input

transformers = pytest.importorskip("transformers")

# (encoder class, transformers config kwargs, final norm attribute, input size)
CASES = {
    "dinov2": ("Dinov2Condition", "Dinov2WithRegistersConfig",
               dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                    image_size=56, patch_size=14, num_register_tokens=4), "layernorm", 56),
    "dinov3": ("Dinov3Condition", "DINOv3ViTConfig",
               dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=2, patch_size=16, image_size=64, num_register_tokens=4),
               "norm", 64),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_features_are_the_input_of_the_final_norm(name: str, tmp_path: Path) -> None:
    from dso.models import encoders

    enc_name, config_name, config, norm_name, size = CASES[name]
    enc_cls = getattr(encoders, enc_name)
    if not hasattr(transformers, enc_cls.model_class):
        pytest.skip(f"transformers {transformers.__version__} has no {enc_cls.model_class}")
    torch.manual_seed(0)
    model = getattr(transformers, enc_cls.model_class)(getattr(transformers, config_name)(**config))
    with torch.no_grad():  # a final norm that is not the identity, so applying it shows
        getattr(model, norm_name).weight.normal_(1, 0.5)
        getattr(model, norm_name).bias.normal_(0, 0.5)
    model.save_pretrained(tmp_path / name)
    encoder = enc_cls(tmp_path / name, image_size=size)
    image = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    cond = encoder.encode_images([image])

    # reference: what reaches the final norm, caught independently of the encoder
    pixels = (torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255 - encoder.mean)
    pixels = pixels / encoder.std
    norm = getattr(encoder.model, norm_name)
    pre, out = final_norm_input(encoder.model, norm, pixels)
    with torch.no_grad():
        assert torch.allclose(norm(pre), out.last_hidden_state, atol=1e-5)  # the last step
    assert cond.shape == (1, pre.shape[1], 32)
    assert torch.allclose(cond, F.layer_norm(pre, (32,)), atol=1e-5)
    post = F.layer_norm(out.last_hidden_state, (32,))  # what the final-norm output would give
    assert not torch.allclose(cond, post, atol=1e-2)
    assert not norm._forward_pre_hooks  # the encoder's own hook is removed after each call
