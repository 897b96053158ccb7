"""TRELLIS stage 1 behind the `Generator` interface, from the user's own released files.

`weights=DIR` holds (directly or under `DIR/ckpts/`) the released
`ss_flow_img_dit_L_16l8_fp16.{json,safetensors}` and `ss_dec_conv3d_16l8_fp16.{json,safetensors}`
(optionally `ss_enc_conv3d_16l8_fp16.*`, needed only for `encode`), and a `transformers` folder
of DINOv2-with-registers (ViT-L/14) at `DIR/dinov2/`. Nothing is downloaded. Prompt images go
through TRELLIS's own preprocessing (`dso.models.preprocess`): RGBA is cropped to the object,
resized to 518 px and premultiplied on black; RGB on a plain backdrop is cut out first
(`dso.models.preprocess`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from dso.models.encoders import Dinov2Condition, _ViTCondition
from dso.models.flow import SparseStructureFlowModel
from dso.models.loading import ModelLoadError, load_model
from dso.models.sampler import SamplerConfig
from dso.models.stage1 import StageOneGenerator
from dso.models.vae import SparseStructureDecoder, SparseStructureEncoder

FLOW_NAME = "ss_flow_img_dit_L_16l8_fp16"
DECODER_NAME = "ss_dec_conv3d_16l8_fp16"
ENCODER_NAME = "ss_enc_conv3d_16l8_fp16"
# Constructor arguments of the released stage-1 files (their json `args`; docs/formats.md).
RELEASED_ARGS: dict[str, dict] = {
    FLOW_NAME: dict(resolution=16, in_channels=8, out_channels=8, model_channels=1024,
                    cond_channels=1024, num_blocks=24, num_heads=16, mlp_ratio=4, patch_size=1,
                    pe_mode="ape", qk_rms_norm=True, use_fp16=True),
    DECODER_NAME: dict(out_channels=1, latent_channels=8, num_res_blocks=2,
                       num_res_blocks_middle=2, channels=[512, 128, 32], use_fp16=True),
}


def find_checkpoint(directory: Path, name: str) -> Path | None:
    """The folder holding `<name>.json`: `directory` itself or `directory/ckpts` (or None)."""
    for d in (directory, directory / "ckpts"):
        if (d / f"{name}.json").is_file():
            return d
    return None


def load_stage1_files(directory: Path, flow_name: str, decoder_hint: str = ""
                      ) -> tuple[nn.Module, nn.Module, nn.Module | None]:
    """(flow, decoder, encoder or None) from `directory` or `directory/ckpts`, loaded strictly;
    a missing flow or decoder raises ModelLoadError (`decoder_hint` says where to find it)."""
    names = (flow_name, DECODER_NAME, ENCODER_NAME)
    found = {n: find_checkpoint(directory, n) for n in names}
    for n, hint in ((flow_name, ""), (DECODER_NAME, decoder_hint)):
        if found[n] is None:
            raise ModelLoadError(f"{n}.json not found in {directory} or {directory / 'ckpts'}"
                                 + (f": {hint}" if hint else ""))
    roles = {flow_name: SparseStructureFlowModel, DECODER_NAME: SparseStructureDecoder,
             ENCODER_NAME: SparseStructureEncoder}
    loaded = {}
    for n, kind in roles.items():
        if found[n] is None:
            loaded[n] = None
            continue
        loaded[n] = load_model(found[n], n)
        if not isinstance(loaded[n], kind):  # files put under another part's name
            raise ModelLoadError(f"{n}.json in {found[n]} describes a "
                                 f"{type(loaded[n]).__name__}, not the {kind.__name__} that "
                                 "file name holds in a release")
    return loaded[flow_name], loaded[DECODER_NAME], loaded[ENCODER_NAME]


def check_condition_width(cond: _ViTCondition, flow: nn.Module) -> None:
    """Raise ModelLoadError when the condition features are not as wide as the flow expects."""
    hidden = cond.model.config.hidden_size
    if hidden != flow.cond_channels:
        raise ModelLoadError(f"{cond.label} width {hidden} != flow cond_channels "
                             f"{flow.cond_channels}")


class TrellisGenerator(StageOneGenerator):
    """TRELLIS-image-large stage 1: DINOv2 [B, 1374, 1024] -> 8 x 16^3 latents -> 64^3 grids."""

    @classmethod
    def load(
        cls,
        weights: str | Path | None = None,
        device: str | torch.device = "cpu",
        dinov2: str | Path | None = None,
    ) -> TrellisGenerator:
        """Load released stage-1 files from `weights`; DINOv2 from `dinov2` or DIR/dinov2."""
        if weights is None:
            raise ModelLoadError("the trellis generator needs its weights: --weights DIR "
                                 "(weights=DIR in Python), the folder of your released files")
        directory = Path(weights)
        flow, decoder, encoder = load_stage1_files(directory, FLOW_NAME)
        if flow.pe_mode != "ape" or flow.share_mod:
            raise ModelLoadError(f"{FLOW_NAME}.json in {directory} does not describe a TRELLIS "
                                 "(v1) flow (pe_mode 'ape', no share_mod): a TRELLIS.2 flow? "
                                 "use --generator trellis2")
        cond = Dinov2Condition(Path(dinov2) if dinov2 is not None else directory / "dinov2")
        check_condition_width(cond, flow)
        return cls(
            name="trellis",
            flow=flow,
            decoder=decoder,
            encoder=encoder,
            cond_encoder=cond,
            sampler=SamplerConfig(),
            device=device,
        )
