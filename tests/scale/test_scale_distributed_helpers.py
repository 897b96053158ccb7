"""Single-process behaviour of the torch.distributed helpers (no group: no-ops)."""

from __future__ import annotations

import pytest
import torch

from dso.scale import distributed as D


def test_env_ranks_reads_torchrun_and_defaults():
    assert D.env_ranks({}) == (0, 1, 0)
    assert D.env_ranks({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == (3, 4, 1)
    with pytest.raises(ValueError, match="inconsistent"):
        D.env_ranks({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(ValueError, match="integers"):
        D.env_ranks({"RANK": "x"})


def test_single_process_context_and_noops(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    ctx = D.dist_context(device="cpu")
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.distributed) == (0, 1, True, False)
    assert D.is_main() and D.world_size() == 1
    t = torch.tensor([2.0, 4.0])
    assert torch.equal(D.all_reduce_mean(t), torch.tensor([2.0, 4.0]))
    D.barrier()
    D.cleanup()


def test_torchrun_detection_and_loopback_addresses():
    from dso.scale.ray_session import is_loopback
    from dso.scale.torchrun import launched_by_torchrun

    assert not launched_by_torchrun({})
    assert not launched_by_torchrun({"RANK": "0", "WORLD_SIZE": "1"})
    assert launched_by_torchrun({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    for address in ("127.0.0.1:6379", "localhost:1", "[::1]:5", "ray://127.0.0.1:10001"):
        assert is_loopback(address), address
    for address in ("10.0.0.1:6379", "auto", "head-node:6379"):
        assert not is_loopback(address), address
