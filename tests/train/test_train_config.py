"""TrainConfig: validated up front, round-trips through RUN/config.json."""

import json

import pytest

from dso.train import TrainConfig


def test_defaults_are_valid_and_round_trip(tmp_path):
    cfg = TrainConfig(dataset="ds", out=str(tmp_path), grad_accum=3)
    assert cfg.effective_batch == 24
    path = cfg.save(tmp_path)
    assert json.loads(path.read_text())["lora_targets"] == ["to_q", "to_kv", "to_out", "to_qkv"]
    assert TrainConfig.load(tmp_path) == cfg


def test_every_problem_is_named_at_once():
    with pytest.raises(ValueError) as info:
        TrainConfig(dataset="ds", out="o", objective="ppo", lr=0.0, lora_dropout=1.5,
                    ascent_bound=-1.0, steps=0)
    message = str(info.value)
    for word in ("objective", "lr", "lora_dropout", "ascent_bound", "steps"):
        assert word in message


def test_dro_needs_both_halves_and_paired_needs_even():
    with pytest.raises(ValueError, match="dro needs batch_size >= 2"):
        TrainConfig(dataset="ds", out="o", objective="dro", batch_size=1)
    with pytest.raises(ValueError, match="even"):
        TrainConfig(dataset="ds", out="o", objective="dro", batch_size=5, paired_dro=True)
    assert TrainConfig(dataset="ds", out="o", objective="sft", batch_size=1).batch_size == 1


def test_unknown_keys_and_missing_file_are_reported(tmp_path):
    with pytest.raises(ValueError, match="unknown training config keys"):
        TrainConfig.from_dict({"dataset": "d", "out": "o", "learning_rate": 1.0})
    with pytest.raises(FileNotFoundError, match="not a training run"):
        TrainConfig.load(tmp_path)
