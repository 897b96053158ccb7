"""The shipped dso-tiny weights load by name and generate objects."""

from __future__ import annotations

import json

import numpy as np
import torch

from dso.models import get_generator
from dso.models.pretrain_config import PretrainConfig
from dso.models.tiny import default_weights_dir
from dso.train.config import TrainConfig
from dso.world.plan import WorldConfig


def test_shipped_dso_tiny_loads_and_generates() -> None:
    gen = get_generator("dso-tiny")
    assert gen.name == "dso-tiny" and gen.resolution == 32
    assert gen.latent_shape == (8, 8, 8, 8)
    assert gen.sampler.steps == 12 and gen.sampler.guidance == 7.5
    names = {n for n, _ in gen.flow.named_modules()}
    for target in TrainConfig.lora_targets:  # training's default LoRA targets exist
        assert any(n.endswith(target) for n in names)
    # a bottle-like prompt: a green column on black
    img = np.zeros((64, 64, 3), dtype=np.uint8)
    img[14:54, 26:38] = (40, 120, 70)
    samples = gen.generate([img], n=2, seed=0)
    assert [s.seed for s in samples] == [0, 1]
    for s in samples:
        assert s.latent.shape == (8, 8, 8, 8) and torch.isfinite(s.latent).all()
        assert 0.005 < s.occupancy.mean() < 0.5  # an object, neither empty nor a solid block
        assert s.mesh is not None and s.mesh.is_watertight


def test_shipped_folder_is_reproducible_from_its_config() -> None:
    folder = default_weights_dir()
    summary = json.loads((folder / "pretrain.json").read_text())
    cfg = PretrainConfig.from_dict(summary["config"])
    assert cfg == PretrainConfig()  # the shipped weights come from the default config
    total = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    assert total < 8_000_000


def test_shipped_weights_come_from_a_world_of_todays_settings() -> None:
    """The world the weights were trained on had today's world settings, every field of them
    (a world built before a setting existed, like the one-piece grid gate, lacks it)."""
    source = json.loads((default_weights_dir() / "pretrain.json").read_text())["source"]
    assert source["split"] == "train"
    assert source["world_config"] == WorldConfig().fingerprint()
