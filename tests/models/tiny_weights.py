"""Small random weights in the dso-tiny format: the one helper every test that needs a real
(tiny, random) generator builds its weights folder with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

FLOW: dict[str, Any] = dict(resolution=4, in_channels=2, out_channels=2, model_channels=32,
                            cond_channels=16, num_blocks=1, num_heads=2, mlp_ratio=2,
                            patch_size=2, qk_rms_norm=True)
DEC: dict[str, Any] = dict(out_channels=1, latent_channels=2, num_res_blocks=1,
                           num_res_blocks_middle=1, channels=[16, 8])
ENC: dict[str, Any] = dict(in_channels=1, latent_channels=2, num_res_blocks=1,
                           num_res_blocks_middle=1, channels=[8, 16])
IMG: dict[str, Any] = dict(image_size=16, width=16, hidden=16)


def random_tiny_weights(path: str | Path, seed: int = 0, *, flow_args: dict | None = None,
                        flow_std: float = 0.2, std: float = 0.1, steps: int = 3,
                        guidance: float = 2.0) -> Path:
    """A folder `get_generator("dso-tiny", weights=path)` loads: 8^3 grids from 4^3 latents.

    After `torch.manual_seed(seed)` the flow (`flow_args`, default FLOW), decoder and encoder
    are built and every parameter is drawn from N(0, flow_std) (flow) or N(0, std) (decoder,
    encoder): zero-initialised layers would hide bugs, and the decoder fills part of the grid.
    The image encoder, built last, keeps its default init. `generator.json` sets the sampler.
    """
    from dso.models.encoders import TinyImageEncoder
    from dso.models.flow import SparseStructureFlowModel
    from dso.models.loading import save_model
    from dso.models.vae import SparseStructureDecoder, SparseStructureEncoder

    path, flow_args = Path(path), dict(flow_args or FLOW)
    torch.manual_seed(seed)
    parts = {"flow": (SparseStructureFlowModel(**flow_args), flow_args, flow_std),
             "decoder": (SparseStructureDecoder(**DEC), DEC, std),
             "encoder": (SparseStructureEncoder(**ENC), ENC, std)}
    for name, (model, args, sigma) in parts.items():
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0, sigma)
        save_model(model, path, name, args)
    save_model(TinyImageEncoder(**IMG), path, "image_encoder", IMG)
    (path / "generator.json").write_text(
        json.dumps({"sampler": {"steps": steps, "guidance": guidance}}))
    return path
