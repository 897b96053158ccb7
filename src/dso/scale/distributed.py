"""torch.distributed plumbing for `torchrun --nproc-per-node N -m dso train ...`.

One process per device. `dist_context()` reads torchrun's environment (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT) and joins the process group: gloo on CPU, nccl on CUDA.
Without torchrun it is a single process and every helper below is a no-op, so the same training
code runs both ways. Here: joining and leaving the group, rank 0's adapter copied to every rank
(`broadcast_module`), gradients and log values averaged (`average_gradients`, `all_reduce_mean`).

The release's multi-GPU bug (same seed on every rank: identical data, t and noise,
docs/method.md §The original release) is prevented where the rank is passed in, not here:
`dso.data.sampling.BatchSource(..., rank, world_size)` gives rank r the slice at
`(index * world_size + r) * k` of row permutations shared by all ranks, so ranks at one step get
disjoint rows; `dso.train.recipe.step_seed(seed, rank, step, micro)` seeds each micro-batch's t
and noise, so they differ per rank.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank, the world size and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the only rank that writes checkpoints and logs)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1


def env_ranks(environ: Mapping[str, str] | None = None) -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's variables; (0, 1, 0) without them."""
    env = os.environ if environ is None else environ
    try:
        rank = int(env.get("RANK", "0"))
        world = int(env.get("WORLD_SIZE", "1"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError as err:
        raise ValueError(f"RANK/WORLD_SIZE/LOCAL_RANK must be integers: {err}") from err
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ValueError(f"inconsistent torchrun environment: RANK={rank} WORLD_SIZE={world} "
                         f"LOCAL_RANK={local}")
    return rank, world, local


def dist_context(
    device: str | torch.device | None = None,
    backend: str | None = None,
    timeout_s: float = 1800.0,
) -> DistContext:
    """Join the process group torchrun describes (if any) and return this rank's context.

    `device` defaults to `cuda:LOCAL_RANK` when CUDA is available, else CPU; `backend`
    defaults to nccl for CUDA and gloo for CPU. Safe to call twice (reuses the group).
    """
    rank, world, local = env_ranks()
    dev = _pick_device(device, local)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world == 1:
        return DistContext(0, 1, local, None, dev)
    if not dist.is_initialized():
        dist.init_process_group(
            backend=backend or ("nccl" if dev.type == "cuda" else "gloo"),
            rank=rank,
            world_size=world,
            timeout=datetime.timedelta(seconds=timeout_s),
        )
        # every rank has finished connecting before any can leave: a rank that refuses its
        # run at once (a foreign --out) would otherwise close the group under a peer still
        # connecting, which then fails with gloo's "Connection closed by peer", not the refusal
        dist.barrier()
    return DistContext(dist.get_rank(), dist.get_world_size(), local, dist.get_backend(), dev)


def _pick_device(device: str | torch.device | None, local_rank: int) -> torch.device:
    if device is None:
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank)
    return dev


def is_main() -> bool:
    """True in a single process and on rank 0 of a group."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def world_size() -> int:
    """Processes in the group (1 without one)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if world_size() > 1:
        dist.barrier()


def cleanup() -> None:
    """Leave the process group if this process joined one, after a run that went well.

    All ranks meet at a barrier first: a rank that tears gloo down while a peer is still
    talking to it can abort the peer ("terminate called without an active exception").
    """
    if dist.is_available() and dist.is_initialized():
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()


def abandon() -> None:
    """Leave the process group at once, meeting no one: after an error on this rank.

    A barrier here would wait for peers that may be blocked in another collective (one that
    this rank never reaches) until the group's timeout; without it the peers' collectives
    fail as soon as this process leaves, and its error is reported now.
    """
    if dist.is_available() and dist.is_initialized():
        with contextlib.suppress(Exception):  # the error being raised is the one to report
            dist.destroy_process_group()


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Average `tensor` over ranks in place and return it (unchanged in one process)."""
    if world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor.div_(world_size())
    return tensor


def average_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    """All-reduce-mean the `.grad` of trainable parameters in one flat bucket.

    The manual alternative to DDP, and what `dso train` uses (several forwards per step); a
    parameter without a gradient on this rank contributes zeros, so every rank issues the same
    collective.
    """
    if world_size() == 1:
        return
    trainable = [p for p in params if p.requires_grad]
    if not trainable:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in trainable]
    flat = all_reduce_mean(torch.cat([g.reshape(-1) for g in grads]))
    offset = 0
    for p in trainable:
        part = flat[offset:offset + p.numel()].view_as(p)
        if p.grad is None:
            p.grad = part.clone()
        else:
            p.grad.copy_(part)
        offset += p.numel()


def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Copy parameters and buffers from rank `src` to every rank (no-op in one process)."""
    if world_size() == 1:
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=src)
