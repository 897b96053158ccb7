"""Single-process behaviour of the torch.distributed helpers (no group: no-ops)."""

from __future__ import annotations

import numpy as np
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
    model = torch.nn.Linear(2, 2)
    assert D.wrap_ddp(model, ctx) is model and D.unwrap(model) is model
    t = torch.tensor([2.0, 4.0])
    assert torch.equal(D.all_reduce_mean(t), torch.tensor([2.0, 4.0]))
    D.barrier()
    D.cleanup()


def test_rank_seed_differs_per_rank_and_step_and_is_stable():
    seeds = {D.rank_seed(0, r, s) for r in range(4) for s in range(50)}
    assert len(seeds) == 200
    assert D.rank_seed(5, 1, 2) == D.rank_seed(5, 1, 2)
    a = torch.randn(8, generator=D.rank_generator(0, 0, 1))
    b = torch.randn(8, generator=D.rank_generator(0, 1, 1))
    c = torch.randn(8, generator=D.rank_generator(0, 0, 1))
    assert not torch.allclose(a, b) and torch.equal(a, c)


def test_rank_batch_indices_disjoint_and_deterministic():
    parts = [D.rank_batch_indices(100, 8, seed=1, rank=r, world_size=4, step=9) for r in range(4)]
    flat = np.concatenate(parts)
    assert len(set(flat.tolist())) == 32
    again = D.rank_batch_indices(100, 8, seed=1, rank=2, world_size=4, step=9)
    assert np.array_equal(parts[2], again)
    other_step = D.rank_batch_indices(100, 8, seed=1, rank=2, world_size=4, step=10)
    assert not np.array_equal(parts[2], other_step)
    with pytest.raises(ValueError):
        D.rank_batch_indices(0, 8, seed=1, rank=0, world_size=1, step=0)


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
