"""Small randomly initialised generators saved in the released format (no downloads)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dso.models.encoders import TinyImageEncoder
from dso.models.flow import SparseStructureFlowModel
from dso.models.loading import save_model
from dso.models.vae import SparseStructureDecoder, SparseStructureEncoder
from tests.models.models_testlib import randomise

FLOW = dict(
    resolution=4,
    in_channels=2,
    out_channels=2,
    model_channels=32,
    cond_channels=16,
    num_blocks=1,
    num_heads=2,
    mlp_ratio=2,
    patch_size=2,
    qk_rms_norm=True,
)
DEC = dict(
    out_channels=1, latent_channels=2, num_res_blocks=1, num_res_blocks_middle=1, channels=[16, 8]
)
ENC = dict(
    in_channels=1, latent_channels=2, num_res_blocks=1, num_res_blocks_middle=1, channels=[8, 16]
)
IMG = dict(image_size=16, width=16, hidden=16)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dso-tiny-format folder with small random models; the decoder fills about half the grid."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny")
    save_model(randomise(SparseStructureFlowModel(**FLOW)), path, "flow", FLOW)
    decoder = randomise(SparseStructureDecoder(**DEC), 0.1)
    save_model(decoder, path, "decoder", DEC)
    save_model(randomise(SparseStructureEncoder(**ENC), 0.1), path, "encoder", ENC)
    save_model(TinyImageEncoder(**IMG), path, "image_encoder", IMG)
    (path / "generator.json").write_text('{"sampler": {"steps": 3, "guidance": 2.0}}')
    return path
