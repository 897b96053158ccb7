"""Refusals under torchrun reach every rank at once: no rank waits in a collective for a peer
that has given up (gloo's timeout is 30 minutes), and the error line is printed right away."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from tests.scale.scale_fixtures import build_store, free_port, torchrun_env, write_tiny_weights

WORLD = 2
DEADLINE_S = 60.0  # far below gloo's 1800 s: what a hang would take


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("errors")
    weights = write_tiny_weights(root / "weights")
    return build_store(root / "ds", weights), weights


def _torchrun(args: list[str], timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(WORLD),
           "--master-addr", "127.0.0.1", "--master-port", str(free_port()), "-m", "dso",
           "train", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    began = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    return proc, time.monotonic() - began


def test_foreign_out_folder_is_refused_at_once_on_every_rank(data, tmp_path):
    ds, weights = data
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "a.txt").write_text("x\n")
    proc, seconds = _torchrun([str(ds), "--objective", "sft", "--weights", str(weights),
                               "--batch-size", "4", "--steps", "2", "--rank", "4",
                               "--out", str(foreign), "--quiet"], timeout=DEADLINE_S)
    assert proc.returncode != 0
    line = f"error: {foreign} is not empty and holds no dso train run; pick another --out"
    assert proc.stderr.count(line) == WORLD, proc.stderr[-4000:]  # each rank refused it
    assert "dso/train/" not in proc.stderr  # no traceback of dso's (torchrun prints its own)
    assert sorted(p.name for p in foreign.iterdir()) == ["a.txt"]  # nothing written there
    assert seconds < DEADLINE_S


class _Config:
    device = "cpu"


def _rank(rank: int, port: int, dump: str) -> None:
    """Rank 0 refuses the run; rank 1 has gone on into a broadcast rank 0 never joins."""
    import torch.distributed as dist

    from dso.scale.torchrun import run_distributed

    torchrun_env(rank, WORLD, port)

    def train_fn(config, rank: int, world_size: int) -> None:
        if rank == 0:
            raise FileExistsError("refused on rank 0 only")
        dist.broadcast(torch.zeros(3), src=0)

    began = time.monotonic()
    try:
        run_distributed(train_fn, _Config())
        outcome = "returned"
    except Exception as err:  # what this rank would report
        outcome = f"{type(err).__name__}: {err}"
    Path(dump, f"rank{rank}.txt").write_text(f"{time.monotonic() - began:.1f} {outcome}")


def test_a_rank_that_raises_leaves_the_group_without_waiting_for_its_peers(tmp_path):
    ctx = mp.spawn(_rank, args=(free_port(), str(tmp_path)), nprocs=WORLD, join=False)
    deadline = time.monotonic() + DEADLINE_S
    for proc in ctx.processes:
        proc.join(timeout=max(0.0, deadline - time.monotonic()))
    hung = [r for r, proc in enumerate(ctx.processes) if proc.is_alive()]
    for proc in ctx.processes:
        if proc.is_alive():
            proc.kill()
            proc.join()
    assert not hung, f"ranks {hung} still waiting after {DEADLINE_S:.0f} s"
    seconds, outcome = (tmp_path / "rank0.txt").read_text().split(" ", 1)
    assert outcome == "FileExistsError: refused on rank 0 only"  # its own error, not a gloo one
    assert float(seconds) < DEADLINE_S / 2
    # rank 1's broadcast fails (or its process is torn down) instead of waiting for rank 0
    peer = tmp_path / "rank1.txt"
    assert not peer.exists() or "returned" not in peer.read_text()
