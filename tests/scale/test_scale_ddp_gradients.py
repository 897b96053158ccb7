"""Two gloo processes on CPU average to the gradient of one process on the union batch.

Each rank takes its own rows and its own noise (seeded as `dso train` seeds it: `step_seed`).
"""

from __future__ import annotations

import math
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from dso.scale import distributed as D
from dso.scale.torchrun import reduce_record
from dso.train.recipe import step_seed

N_ITEMS, BATCH, SEED, WORLD = 40, 4, 7, 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 6))


def _data() -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(1).normal(size=(N_ITEMS, 6)).astype("float32"))


def _loss(model: torch.nn.Module, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Denoising-style loss: per-sample MSE, batch mean (as the flow objectives)."""
    return ((model(x + noise) - x) ** 2).mean(dim=1).mean()


def _rank_worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank), GLOO_SOCKET_IFNAME="lo")
    torch.set_num_threads(1)
    ctx = D.dist_context(device="cpu")
    try:
        model = _model()
        perm = np.random.default_rng(SEED).permutation(N_ITEMS)  # one order, a slice per rank
        idx = perm[ctx.rank * BATCH:(ctx.rank + 1) * BATCH]
        gen = torch.Generator().manual_seed(step_seed(SEED, ctx.rank, 3, 0))
        noise = torch.randn(BATCH, 6, generator=gen)
        _loss(model, _data()[idx], noise).backward()
        D.average_gradients(model.parameters())
        loss_mean = D.all_reduce_mean(torch.tensor([float(ctx.rank)]))
        record = reduce_record({"step": 3, "lr": 0.1 * (ctx.rank + 1), "loss": float(ctx.rank),
                                "err_unstable": math.nan if ctx.rank == 0 else 3.0})
        grads = [p.grad.clone() for p in model.parameters()]
        torch.save({"idx": idx, "noise": noise, "grads": grads, "mean_rank": loss_mean,
                    "backend": ctx.backend, "main": D.is_main(), "record": record},
                   os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        D.cleanup()


def _run(tmp_path) -> list[dict]:
    mp.spawn(_rank_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


def test_two_ranks_average_to_union_gradient(tmp_path):
    ranks = _run(tmp_path)
    # the ranks saw different samples and different noise
    assert not set(ranks[0]["idx"].tolist()) & set(ranks[1]["idx"].tolist())
    assert not torch.allclose(ranks[0]["noise"], ranks[1]["noise"])
    assert [r["backend"] for r in ranks] == ["gloo", "gloo"]
    assert [r["main"] for r in ranks] == [True, False]
    assert float(ranks[0]["mean_rank"]) == pytest.approx(0.5)
    # log records: numeric fields averaged over ranks, NaN-aware; step and lr kept
    assert ranks[1]["record"] == {"step": 3, "lr": pytest.approx(0.2), "loss": 0.5,
                                  "err_unstable": 3.0}
    # one process on the union of both batches, same noise per sample
    model = _model()
    x = torch.cat([_data()[r["idx"]] for r in ranks])
    _loss(model, x, torch.cat([r["noise"] for r in ranks])).backward()
    for ref, g0, g1 in zip(model.parameters(), ranks[0]["grads"], ranks[1]["grads"], strict=True):
        torch.testing.assert_close(g0, g1)  # gradients are averaged: identical on both ranks
        torch.testing.assert_close(g0, ref.grad, rtol=1e-5, atol=1e-6)
    # and not trivially: each rank's own gradient differs from the average
    own = _model()
    _loss(own, _data()[ranks[0]["idx"]], ranks[0]["noise"]).backward()
    assert not torch.allclose(own[0].weight.grad, ranks[0]["grads"][0], atol=1e-5)
