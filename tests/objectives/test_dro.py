"""DRO: hand-computed values, the sign of its gradient, and the ascent bound."""

import math

import pytest
import torch

from dso.objectives import dro_loss


def test_dro_hand_computed_value_and_gradient():
    err = torch.tensor([1.0, 3.0, 2.0, 6.0], requires_grad=True)
    stable = torch.tensor([True, True, False, False])
    loss, stats = dro_loss(err, stable)
    # 1/2 * mean(1, 3) - 1/2 * mean(2, 6) = 1 - 2
    assert loss.item() == pytest.approx(-1.0)
    loss.backward()
    assert err.grad.tolist() == pytest.approx([0.25, 0.25, -0.25, -0.25])
    assert stats["err_stable"] == pytest.approx(2.0)
    assert stats["err_unstable"] == pytest.approx(4.0)
    assert (stats["n_stable"], stats["n_unstable"]) == (2.0, 2.0)


def test_dro_groups_are_balanced_when_unequal():
    err = torch.tensor([1.0, 2.0, 3.0, 10.0], requires_grad=True)
    stable = torch.tensor([True, True, True, False])
    loss, _ = dro_loss(err, stable)
    assert loss.item() == pytest.approx(0.5 * 2.0 - 0.5 * 10.0)
    loss.backward()
    assert err.grad.tolist() == pytest.approx([1 / 6, 1 / 6, 1 / 6, -0.5])


def test_dro_gradient_step_lowers_stable_and_raises_unstable_error():
    # err_i = (theta - y_i)^2: stable samples sit at y=0, unstable at y=1
    theta = torch.tensor(0.5, requires_grad=True)
    y = torch.tensor([0.0, 0.0, 1.0, 1.0])
    stable = torch.tensor([True, True, False, False])

    def errors():
        return (theta - y) ** 2

    before = errors().detach()
    loss, _ = dro_loss(errors(), stable)
    loss.backward()
    assert theta.grad.item() == pytest.approx(1.0)  # d/dtheta [ (th)^2/2 - (th-1)^2/2 ]
    with torch.no_grad():
        theta -= 0.1 * theta.grad
    after = errors().detach()
    assert (after[stable] < before[stable]).all()
    assert (after[~stable] > before[~stable]).all()


def test_ascent_bound_clamps_the_unstable_term():
    err = torch.tensor([1.0, 3.0, 2.0, 6.0], requires_grad=True)
    stable = torch.tensor([True, True, False, False])
    loss, stats = dro_loss(err, stable, ascent_bound=3.0)
    # 1/2 * 2 - 1/2 * mean(2, min(6, 3)) = 1 - 1.25
    assert loss.item() == pytest.approx(-0.25)
    loss.backward()
    assert err.grad.tolist() == pytest.approx([0.25, 0.25, -0.25, 0.0])
    assert stats["ascent_clipped"] == pytest.approx(0.5)
    assert stats["err_unstable"] == pytest.approx(4.0)  # logged unclamped


def test_empty_group_keeps_graph_and_reports_nan():
    err = torch.tensor([1.0, 3.0], requires_grad=True)
    loss, stats = dro_loss(err, torch.tensor([True, True]))
    loss.backward()
    assert loss.item() == pytest.approx(1.0)
    assert math.isnan(stats["err_unstable"])
    assert err.grad.tolist() == pytest.approx([0.25, 0.25])


def test_dro_rejects_bad_input():
    with pytest.raises(ValueError, match="err"):
        dro_loss(torch.zeros(3), torch.zeros(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="ascent_bound"):
        dro_loss(torch.zeros(2), torch.ones(2, dtype=torch.bool), ascent_bound=0.0)


def test_dro_ascent_weight_scales_only_the_unstable_term():
    err = torch.tensor([1.0, 3.0, 2.0, 6.0], requires_grad=True)
    stable = torch.tensor([True, True, False, False])
    loss, _ = dro_loss(err, stable, ascent_weight=0.25)
    assert loss.item() == pytest.approx(1.0 - 0.25 * 2.0)
    loss.backward()
    assert err.grad.tolist() == pytest.approx([0.25, 0.25, -0.0625, -0.0625])


def test_dro_ascent_margin_stops_pushing_past_the_base_error():
    # unstable errors 2 and 6 against base errors 1.9 and 7: with margin 0.05 the first is
    # already past 1.9 + 0.05 (held, no gradient), the second is below 7.05 (still pushed)
    err = torch.tensor([1.0, 3.0, 2.0, 6.0], requires_grad=True)
    ref = torch.tensor([1.0, 3.0, 1.9, 7.0])
    stable = torch.tensor([True, True, False, False])
    loss, stats = dro_loss(err, stable, ref=ref, ascent_margin=0.05)
    assert loss.item() == pytest.approx(0.5 * 2.0 - 0.5 * (1.95 + 6.0) / 2)
    loss.backward()
    assert err.grad.tolist() == pytest.approx([0.25, 0.25, 0.0, -0.25])
    assert stats["ascent_clipped"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="reference"):
        dro_loss(err, stable, ascent_margin=0.05)


def test_an_unbounded_ascent_is_cautioned_and_a_bounded_one_is_not():
    from dso.objectives.dro import DRO

    assert "no bound on its ascent" in DRO().caution()
    assert DRO(ascent_bound=0.8).caution() is None
    assert DRO(ascent_margin=0.1).caution() is None
    assert DRO(ascent_weight=0.0).caution() is None  # no ascent at all


def test_a_margin_of_zero_holds_every_unstable_sample_at_the_base():
    import torch

    from dso.objectives import dro_loss

    err = torch.tensor([0.3, 0.5, 0.4], requires_grad=True)
    ref = err.detach().clone()  # the adapter starts as the base: err == ref exactly
    loss, stats = dro_loss(err, torch.tensor([True, False, False]), ref=ref, ascent_margin=0.0)
    loss.backward()
    assert err.grad.tolist() == [0.5, 0.0, 0.0] and stats["ascent_clipped"] == 1.0
