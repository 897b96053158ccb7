"""TRELLIS.2 stage 1 behind the `Generator` interface, from the user's own released files.

`weights=DIR` holds (directly or under `DIR/ckpts/`) the released TRELLIS.2 stage-1 flow
`ss_flow_img_dit_1_3B_64_bf16.{json,safetensors}` and the structure decoder it decodes with, which
is TRELLIS's `ss_dec_conv3d_16l8_fp16.{json,safetensors}` (copy it from a TRELLIS-image-large
folder; `ss_enc_conv3d_16l8_fp16.*` optionally, for `encode`), and a `transformers` folder of
DINOv3 ViT-L/16 at `DIR/dinov3/`. Nothing is downloaded. RGBA prompts are cropped to the object
with no margin, resized to 512 px and premultiplied on black (docs/formats.md §TRELLIS.2).
"""

from __future__ import annotations

from pathlib import Path

import torch

from dso.models.encoders import Dinov3Condition
from dso.models.loading import ModelLoadError
from dso.models.sampler import SamplerConfig
from dso.models.stage1 import StageOneGenerator
from dso.models.trellis import DECODER_NAME, check_condition_width, load_stage1_files

FLOW_NAME = "ss_flow_img_dit_1_3B_64_bf16"
# Constructor arguments of the released flow (its json `args`: the repo's training config plus
# `dtype`, which the `_bf16` file name implies; docs/formats.md §TRELLIS.2).
RELEASED_ARGS: dict[str, dict] = {
    FLOW_NAME: dict(resolution=16, in_channels=8, out_channels=8, model_channels=1536,
                    cond_channels=1024, num_blocks=30, num_heads=12, mlp_ratio=5.3334,
                    pe_mode="rope", share_mod=True, initialization="scaled", qk_rms_norm=True,
                    qk_rms_norm_cross=True, dtype="bfloat16"),
}
# The pipeline's stage-1 defaults: w 7.5 in TRELLIS.2's form (v1's 6.5), x0 rescale 0.7.
SAMPLER = SamplerConfig(steps=12, guidance=7.5, cfg_interval=(0.6, 1.0), rescale_t=5.0,
                        guidance_form="trellis2", guidance_rescale=0.7)
DECODER_HINT = (f"TRELLIS.2 decodes with TRELLIS's structure decoder: copy ckpts/{DECODER_NAME}"
                ".json and .safetensors from your TRELLIS-image-large folder into this one")


class Trellis2Generator(StageOneGenerator):
    """TRELLIS.2 stage 1: DINOv3 [B, 1029, 1024] -> 8 x 16^3 latents -> 64^3 grids."""

    crop_margin = 1.0  # TRELLIS.2 crops RGBA prompts to the alpha box with no margin

    @classmethod
    def load(
        cls,
        weights: str | Path | None = None,
        device: str | torch.device = "cpu",
        dinov3: str | Path | None = None,
    ) -> Trellis2Generator:
        """Load released stage-1 files from `weights`; DINOv3 from `dinov3` or DIR/dinov3."""
        if weights is None:
            raise ModelLoadError("the trellis2 generator needs its weights: --weights DIR "
                                 "(weights=DIR in Python), the folder of your released files")
        directory = Path(weights)
        flow, decoder, encoder = load_stage1_files(directory, FLOW_NAME, DECODER_HINT)
        if flow.pe_mode != "rope" or not flow.share_mod:
            raise ModelLoadError(f"{FLOW_NAME}.json in {directory} does not describe a TRELLIS.2 "
                                 "flow (pe_mode 'rope' with share_mod)")
        cond = Dinov3Condition(Path(dinov3) if dinov3 is not None else directory / "dinov3")
        check_condition_width(cond, flow)
        return cls(name="trellis2", flow=flow, decoder=decoder, encoder=encoder,
                   cond_encoder=cond, sampler=SAMPLER, device=device)
