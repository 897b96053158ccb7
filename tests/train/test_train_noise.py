"""Noise and t: distinct per (seed, rank, step, micro); shared within DPO and paired-DRO pairs."""

import pytest
import torch

from dso.objectives import Batch
from dso.train import TrainConfig
from dso.train.recipe import Recipe, step_seed
from tests.train.train_fixtures import one_thread, tiny_generator  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


def test_step_seeds_differ_across_rank_step_and_micro():
    seeds = {step_seed(0, r, s, m) for r in range(4) for s in range(50) for m in range(3)}
    assert len(seeds) == 4 * 50 * 3
    assert step_seed(1, 0, 0, 0) != step_seed(0, 0, 0, 0)
    assert step_seed(5, 2, 7, 1) == step_seed(5, 2, 7, 1)


def _recipe(tmp_path, objective, **kw):
    cfg = TrainConfig(dataset="unused", out=str(tmp_path / objective), objective=objective,
                      batch_size=4, **kw)
    return Recipe(cfg, generator=tiny_generator(), source=object(), progress=False).setup()


def _twins():
    g = torch.Generator().manual_seed(1)
    x, cond = torch.randn(2, 2, 4, 4, 4, generator=g), torch.randn(2, 4, 16, generator=g)
    return x, cond


def test_dpo_pair_members_share_t_and_noise(tmp_path):
    x, cond = _twins()
    recipe = _recipe(tmp_path, "dpo")
    _, stats = recipe.micro_loss(Batch.of_pairs(x, x.clone(), cond), seed=11)
    assert stats["err_stable"] == stats["err_unstable"]


@pytest.mark.parametrize("noise,same_t,same_eps", [("shared", True, True),
                                                   ("release", True, False),
                                                   ("independent", False, False)])
def test_what_each_pair_noise_mode_shares_within_a_pair(tmp_path, noise, same_t, same_eps):
    # the released code draws one t per pair and the noise per row ("release")
    x, cond = _twins()
    recipe = _recipe(tmp_path, "dro", paired_dro=True, pair_noise=noise)
    batch = Batch(torch.cat([x, x]), torch.cat([cond, cond]),
                  torch.tensor([True, True, False, False]), paired=True)
    t, eps, keep = recipe._draws(batch, seed=11)
    assert torch.equal(t[:2], t[2:]) == same_t and torch.equal(eps[:2], eps[2:]) == same_eps
    assert len(set(t.tolist())) == (2 if same_t else 4)


@pytest.mark.parametrize("paired,noise", [(True, "shared"), (True, "independent"),
                                           (True, "release"), (False, "shared")])
def test_paired_dro_shares_t_and_noise_across_halves(tmp_path, paired, noise):
    x, cond = _twins()
    recipe = _recipe(tmp_path, "dro", paired_dro=paired, pair_noise=noise)
    batch = Batch(torch.cat([x, x]), torch.cat([cond, cond]),
                  torch.tensor([True, True, False, False]), paired=paired)
    loss, stats = recipe.micro_loss(batch, seed=11)
    shared = paired and noise == "shared"  # identical twins see identical draws: loss 0
    assert (stats["err_stable"] == stats["err_unstable"]) == shared
    assert (loss.item() == 0.0) == shared


def test_condition_dropout_zeroes_the_condition_like_pretraining(tmp_path):
    x, cond = _twins()
    stable = torch.ones(2, dtype=torch.bool)
    other = torch.randn_like(cond)
    dropped = _recipe(tmp_path, "sft", cond_dropout=0.9999)
    a, _ = dropped.micro_loss(Batch(x, cond, stable), seed=11)
    b, _ = dropped.micro_loss(Batch(x, other, stable), seed=11)
    assert a.item() == b.item()  # the condition was never seen
    kept = _recipe(tmp_path / "k", "sft")
    c, _ = kept.micro_loss(Batch(x, cond, stable), seed=11)
    d, _ = kept.micro_loss(Batch(x, other, stable), seed=11)
    assert c.item() != d.item()


def test_ascent_margin_compares_with_the_frozen_base(tmp_path):
    # at initialisation the adapters are zero: the model's errors equal the base's, so with a
    # margin of 0 every unstable sample sits exactly at its ceiling (held), and with a margin of
    # 1e-6 none reaches it
    x, cond = _twins()
    batch = Batch(torch.cat([x, x]), torch.cat([cond, cond]),
                  torch.tensor([True, True, False, False]))
    for margin, held in ((0.0, 1.0), (1e-6, 0.0)):
        recipe = _recipe(tmp_path / str(margin), "dro", ascent_margin=margin)
        loss, stats = recipe.micro_loss(batch, seed=11)
        assert torch.isfinite(loss) and stats["ascent_clipped"] == held, margin


def test_the_guided_loss_fits_the_samplers_guided_velocity(tmp_path):
    from dso.models.rectified_flow import per_sample_error
    from dso.models.sampler import SamplerConfig

    x, cond = _twins()
    batch = Batch(x, cond, torch.ones(2, dtype=torch.bool))
    sampler = SamplerConfig(guidance=3.0, cfg_interval=(0.0, 1.0))
    losses = {}
    for guided in (True, False):
        generator = tiny_generator()
        generator.sampler = sampler
        cfg = TrainConfig(dataset="unused", out=str(tmp_path / str(guided)), objective="sft",
                          batch_size=4, guided_loss=guided)
        recipe = Recipe(cfg, generator=generator, source=object(), progress=False).setup()
        t, eps, _ = recipe._draws(batch, seed=11)
        loss, _ = recipe.micro_loss(batch, seed=11)
        # the recipe's error: per_sample_error at the sampler's guidance, or plain (0)
        want = per_sample_error(recipe.model, x, cond, t, eps, sampler if guided else 0.0)
        assert loss.item() == pytest.approx(want.mean().item(), rel=1e-5)
        losses[guided] = loss.item()
    assert losses[True] != losses[False]
