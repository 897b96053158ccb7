"""The training recipe under `torchrun --nproc-per-node N -m dso train ...`.

What `dso.train` calls when it finds itself launched by torchrun (three small hooks):
- `run_distributed`: join the group (gloo on CPU, nccl on CUDA, device cuda:LOCAL_RANK), run
  the recipe with this rank and world size, leave the group;
- `sync_replicas`: after setup, every rank holds rank 0's adapter, and rank 0 starts writing to
  the run folder only once every rank has checked it;
- `average_gradients` (from `dso.scale.distributed`) after the micro-batches of a step, and
  `reduce_record` so rank 0 logs the mean loss over all ranks.
Data and noise differ per rank because the BatchSource and the noise seed take the rank.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.distributed as dist

from dso.scale.distributed import (
    abandon,
    all_reduce_mean,
    barrier,
    broadcast_module,
    cleanup,
    dist_context,
    env_ranks,
    world_size,
)

# Record fields that are the same on every rank or not worth a collective.
_KEEP = frozenset({"step", "lr"})


def launched_by_torchrun(environ: Mapping[str, str] | None = None) -> bool:
    """True when torchrun (or another launcher) started this process as one of several."""
    env = os.environ if environ is None else environ
    return "RANK" in env and env_ranks(env)[1] > 1


def run_distributed(train_fn: Callable[..., Any], config: Any, **kwargs: Any) -> Any:
    """`train_fn(config, rank=, world_size=, **kwargs)` as this torchrun rank.

    Joins the process group unless the caller already did (then it is left open for the
    caller); leaves it at the end if it joined: after a barrier when the run went well, at
    once when it raised (the other ranks then fail fast instead of waiting in a collective
    until the group's timeout). A CUDA device without an index becomes
    `cuda:LOCAL_RANK` (one GPU per process).
    """
    joined = not dist.is_initialized()
    ctx = dist_context(device=_device(config.device))
    if str(ctx.device) != config.device:
        config = dataclasses.replace(config, device=str(ctx.device))
    try:
        result = train_fn(config, rank=ctx.rank, world_size=ctx.world_size, **kwargs)
    except BaseException:
        if joined:  # no barrier: a peer may wait in a collective this rank never reaches
            abandon()
        raise
    if joined:
        cleanup()
    return result


def _device(name: str) -> str:
    from dso.models.device import resolve_device

    dev = resolve_device(name)  # a device this machine lacks: a clear error on every rank
    if dev.type == "cuda" and dev.index is None:
        return f"cuda:{env_ranks()[2]}"
    return name


def sync_replicas(model: torch.nn.Module) -> None:
    """Give every rank rank 0's trainable weights, then wait for all ranks (no-op alone)."""
    if world_size() == 1:
        return
    trainable = torch.nn.ParameterList([p for p in model.parameters() if p.requires_grad])
    broadcast_module(trainable)
    barrier()


def _collective_device() -> torch.device:
    """Where a small tensor must live for a collective: the GPU for nccl, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def reduce_record(record: dict[str, Any]) -> dict[str, Any]:
    """Mean over ranks of each numeric field of a step's log record (NaN-aware; no-op alone).

    A field that is NaN on some ranks (e.g. no unstable sample there) averages the others.
    """
    if world_size() == 1:
        return record
    keys = [k for k, v in record.items()
            if k not in _KEEP and isinstance(v, (int, float)) and not isinstance(v, bool)]
    values = torch.tensor([float(record[k]) for k in keys], dtype=torch.float64,
                          device=_collective_device())
    finite = torch.isfinite(values)
    packed = torch.cat([torch.where(finite, values, 0.0), finite.double()])
    packed = all_reduce_mean(packed)
    sums, counts = packed[: len(keys)], packed[len(keys):]
    out = dict(record)
    for k, s, c in zip(keys, sums.tolist(), counts.tolist(), strict=True):
        out[k] = s / c if c > 0 else math.nan
    return out
