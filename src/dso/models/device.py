"""Torch devices named by users (`--device`): one this machine cannot run on is a clear error."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device) -> torch.device:
    """`device` as a torch.device; ValueError naming the problem when the name is not a device
    or this torch cannot use it (no CUDA build, no GPU, an index past the GPUs, no MPS)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {str(device)!r}: use cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
            raise ValueError(f"device {str(device)!r}: this torch ({torch.__version__}) is a "
                             "CPU-only build; use --device cpu or install a CUDA build")
        count = torch.cuda.device_count()
        if count == 0:
            raise ValueError(f"device {str(device)!r}: no CUDA GPU is visible; use --device cpu")
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"device {str(device)!r}: only {count} CUDA GPU(s) are visible "
                             f"(cuda:0 to cuda:{count - 1})")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {str(device)!r}: MPS is not available here; use --device cpu")
    return dev
