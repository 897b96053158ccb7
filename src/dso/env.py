"""`dso env`: versions of everything that matters, for bug reports."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # typer only where the command runs: workers import available_cores
    import typer

_PACKAGES = (
    "dso", "torch", "mujoco", "trimesh", "numpy", "scipy", "scikit-image", "safetensors",
    "peft", "transformers", "ray", "typer", "tqdm", "pillow", "matplotlib",
)


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask on Linux, else the CPU count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def versions() -> dict[str, str]:
    """Installed versions of dso's dependencies ('not installed' when absent)."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    out["cpu_count"] = str(os.cpu_count())
    out["MUJOCO_GL"] = os.environ.get("MUJOCO_GL", "(unset)")
    return out


def _cuda() -> str:
    try:
        import torch
    except ImportError:
        return "torch not installed"
    if not torch.cuda.is_available():
        return "not available"
    return f"{torch.version.cuda} ({torch.cuda.get_device_name(0)})"


def env() -> None:
    """Print versions of dso and its dependencies (paste this into bug reports)."""
    import typer

    info = versions()
    info["cuda"] = _cuda()
    width = max(len(k) for k in info)
    for key, value in info.items():
        typer.echo(f"{key:<{width}}  {value}")


def register(app: typer.Typer) -> None:
    """Add `dso env` to the CLI."""
    app.command("env")(env)
