"""SFT: plain mean of the per-sample errors."""

import pytest
import torch

from dso.objectives import sft_loss


def test_sft_hand_computed():
    err = torch.tensor([1.0, 2.0, 6.0], requires_grad=True)
    loss, stats = sft_loss(err)
    assert loss.item() == pytest.approx(3.0)
    assert stats == {"err_stable": pytest.approx(3.0)}
    loss.backward()
    assert err.grad.tolist() == pytest.approx([1 / 3] * 3)


def test_sft_rejects_empty():
    with pytest.raises(ValueError, match="non-empty"):
        sft_loss(torch.zeros(0))


def test_sft_refuses_a_batch_with_unstable_samples():
    from dso.objectives import Batch
    from dso.objectives.sft import SFT

    x, cond = torch.zeros(3, 1, 2, 2, 2), torch.zeros(3, 4, 8)
    err = torch.tensor([1.0, 2.0, 6.0])
    assert SFT().loss(err, None, Batch(x, cond, torch.tensor([True, True, True])))[0] == 3.0
    with pytest.raises(ValueError, match="holds 1 unstable"):
        SFT().loss(err, None, Batch(x, cond, torch.tensor([True, False, True])))
