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
