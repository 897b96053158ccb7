"""A TRELLIS.2-format weights folder at a tiny size, with random weights: the released flow's
options (RoPE, shared modulation, cross qk norm, mlp 5.3334, bf16 blocks as stored), TRELLIS's
structure decoder and encoder, and a tiny random DINOv3 saved locally (nothing downloaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

FLOW: dict[str, Any] = dict(resolution=4, in_channels=8, out_channels=8, model_channels=32,
                            cond_channels=32, num_blocks=2, num_heads=2, mlp_ratio=5.3334,
                            pe_mode="rope", share_mod=True, initialization="scaled",
                            qk_rms_norm=True, qk_rms_norm_cross=True, dtype="bfloat16")
DEC: dict[str, Any] = dict(out_channels=1, latent_channels=8, num_res_blocks=1,
                           num_res_blocks_middle=1, channels=[16, 8], use_fp16=True)
ENC: dict[str, Any] = dict(in_channels=1, latent_channels=8, num_res_blocks=1,
                           num_res_blocks_middle=1, channels=[8, 16], use_fp16=True)
DINOV3: dict[str, Any] = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                              num_attention_heads=2, patch_size=16, image_size=512,
                              num_register_tokens=4)


def random_trellis2_weights(root: str | Path, seed: int = 0, flow_std: float = 0.2,
                            std: float = 0.1) -> Path:
    """`root` with ckpts/<released names>.{json,safetensors} and dinov3/ (transformers folder).

    After `torch.manual_seed(seed)` every parameter of the flow is drawn from N(0, flow_std),
    of the decoder and encoder from N(0, std) (zero-initialised layers would hide bugs); the
    flow file stores its blocks' Linear layers in bf16, as the release does. The decoder's output
    bias is then set so that half the voxels of N(0, 1) latents are occupied: the grids are
    blobs of which the oracle finds some stable and some not.
    """
    import transformers

    from dso.models.flow import SparseStructureFlowModel
    from dso.models.loading import save_model
    from dso.models.trellis import DECODER_NAME, ENCODER_NAME
    from dso.models.trellis2 import FLOW_NAME
    from dso.models.vae import SparseStructureDecoder, SparseStructureEncoder

    root = Path(root)
    ckpts = root / "ckpts"
    torch.manual_seed(seed)
    flow = SparseStructureFlowModel(**FLOW)
    decoder, encoder = SparseStructureDecoder(**DEC), SparseStructureEncoder(**ENC)
    with torch.no_grad():
        for model, sigma in ((flow, flow_std), (decoder, std), (encoder, std)):
            for p in model.parameters():
                p.copy_(torch.randn(p.shape) * sigma)
        logits = decoder(torch.randn(16, FLOW["in_channels"], *[FLOW["resolution"]] * 3))
        decoder.out_layer[-1].bias -= logits.median()
    save_model(flow, ckpts, FLOW_NAME, FLOW)  # keeps the bf16 blocks the constructor made
    save_model(decoder, ckpts, DECODER_NAME, DEC)
    save_model(encoder, ckpts, ENCODER_NAME, ENC)
    dinov3 = transformers.DINOv3ViTModel(transformers.DINOv3ViTConfig(**DINOV3))
    with torch.no_grad():  # a final norm that is not the identity, so skipping it shows
        dinov3.norm.weight.normal_(1, 0.5)
        dinov3.norm.bias.normal_(0, 0.5)
    dinov3.save_pretrained(root / "dinov3")
    return root
