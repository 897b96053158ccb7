"""Real pieces for the data tests: a small world and dso-tiny-format random weights."""

from __future__ import annotations

from pathlib import Path

import torch

from dso.models.encoders import TinyImageEncoder
from dso.models.flow import SparseStructureFlowModel
from dso.models.loading import save_model
from dso.models.vae import SparseStructureDecoder, SparseStructureEncoder
from dso.world import TRAIN_FAMILIES, build_world

FLOW = dict(resolution=4, in_channels=2, out_channels=2, model_channels=32, cond_channels=16,
            num_blocks=1, num_heads=2, mlp_ratio=2, patch_size=2, qk_rms_norm=True)
DEC = dict(out_channels=1, latent_channels=2, num_res_blocks=1, num_res_blocks_middle=1,
           channels=[16, 8])
ENC = dict(in_channels=1, latent_channels=2, num_res_blocks=1, num_res_blocks_middle=1,
           channels=[8, 16])
IMG = dict(image_size=16, width=16, hidden=16)


def _weights(path: Path, seed: int) -> Path:
    """A dso-tiny weights folder of small random models (the decoder fills part of the grid)."""
    torch.manual_seed(seed)
    parts = {"flow": (SparseStructureFlowModel(**FLOW), FLOW, 0.2),
             "decoder": (SparseStructureDecoder(**DEC), DEC, 0.1),
             "encoder": (SparseStructureEncoder(**ENC), ENC, 0.1)}
    for name, (model, args, std) in parts.items():
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0, std)
        save_model(model, path, name, args)
    save_model(TinyImageEncoder(**IMG), path, "image_encoder", IMG)
    (path / "generator.json").write_text('{"sampler": {"steps": 3, "guidance": 2.0}}')
    return path


def make_pieces(root: Path) -> dict:
    """A small world (2 families x 3 objects x 2 views) and two random weights folders."""
    world = build_world(root / "world", n_train=3, n_eval=0, n_synthetic=0, n_val=0,
                        wild_per_family=0, families=TRAIN_FAMILIES[:2], train_views=2,
                        workers=1, progress=False)
    return {"world": world.root, "weights": _weights(root / "w0", 0),
            "other": _weights(root / "w1", 1), "root": root}
