"""Diffusion-DPO: ln 2 at initialisation, a hand-computed value, gradient direction."""

import math

import pytest
import torch

from dso.objectives import dpo_loss


def test_dpo_is_ln2_at_initialisation_with_symmetric_gradient():
    err_w = torch.tensor([0.3, 0.7], requires_grad=True)
    err_l = torch.tensor([0.5, 0.2], requires_grad=True)
    loss, stats = dpo_loss(err_w, err_l, err_w.detach(), err_l.detach(), beta=100.0)
    assert loss.item() == pytest.approx(math.log(2.0))
    assert stats["implicit_acc"] == 0.0
    loss.backward()
    # d/d err_w of -log sigmoid(-beta/2 (err_w - err_l)) at 0 = sigmoid(0) * beta/2, / B
    assert err_w.grad.tolist() == pytest.approx([12.5, 12.5])
    assert err_l.grad.tolist() == pytest.approx([-12.5, -12.5])


def test_dpo_hand_computed_value():
    err_w, err_l = torch.tensor([0.5], requires_grad=True), torch.tensor([1.0])
    loss, stats = dpo_loss(err_w, err_l, torch.tensor([0.6]), torch.tensor([0.9]), beta=10.0)
    # inside = -5 * ((0.5 - 0.6) - (1.0 - 0.9)) = 1
    assert loss.item() == pytest.approx(math.log1p(math.exp(-1.0)))
    assert stats["implicit_acc"] == 1.0
    assert stats["reward_margin"] == pytest.approx(1.0)
    assert stats["ref_err_stable"] == pytest.approx(0.6)
    loss.backward()
    sig = 1.0 / (1.0 + math.exp(-1.0))
    assert err_w.grad.item() == pytest.approx((1.0 - sig) * 5.0)


def test_dpo_gradient_lowers_winner_error_and_raises_loser_error():
    theta = torch.tensor(0.5, requires_grad=True)
    err_w = (theta - 0.0) ** 2  # winner prefers small theta
    err_l = (theta - 1.0) ** 2  # loser prefers large theta
    loss, _ = dpo_loss(err_w[None], err_l[None], err_w.detach()[None], err_l.detach()[None], 2.0)
    loss.backward()
    with torch.no_grad():
        theta -= 0.1 * theta.grad
    assert (theta - 0.0) ** 2 < 0.25 < (theta - 1.0) ** 2


def test_reference_receives_no_gradient():
    ref = torch.tensor([0.4], requires_grad=True)
    loss, _ = dpo_loss(torch.tensor([0.5], requires_grad=True), torch.tensor([0.5]), ref, ref, 1.0)
    loss.backward()
    assert ref.grad is None


def test_dpo_rejects_bad_input():
    with pytest.raises(ValueError, match="equal shape"):
        dpo_loss(torch.zeros(2), torch.zeros(3), torch.zeros(2), torch.zeros(2), 1.0)
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(torch.zeros(2), torch.zeros(2), torch.zeros(2), torch.zeros(2), 0.0)


def test_a_batch_with_the_loser_first_is_refused():
    import torch

    from dso.objectives import get_objective
    from dso.objectives.base import Batch

    x = torch.zeros(4, 2)
    swapped = Batch(x0=x, cond=x, stable=torch.tensor([False, False, True, True]), paired=True)
    err = torch.ones(4)
    with pytest.raises(ValueError, match="first half"):
        get_objective("dpo")().loss(err, err, swapped)
    right = Batch(x0=x, cond=x, stable=torch.tensor([True, True, False, False]), paired=True)
    loss, _ = get_objective("dpo")().loss(err, err, right)
    assert float(loss) == pytest.approx(0.6931, abs=1e-4)  # ln 2 with no difference
