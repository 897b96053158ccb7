"""The `dso` command line. Thin: each room registers its own commands.

Each entry of ROOMS is a module with `register(app)`; torch, trimesh, MuJoCo, Ray and the
models are imported inside the commands, so `dso --help` starts in about 0.1 s.
"""

from __future__ import annotations

import importlib
import warnings

import typer

ROOMS = (
    "dso.env",
    "dso.demo.cli",
    "dso.eval.cli",
    "dso.data.cli",
    "dso.models.cli",
    "dso.physics.cli",
    "dso.train.cli",
    "dso.world.cli",
)

app = typer.Typer(
    name="dso",
    help="Direct Simulation Optimization: make 3D generators produce objects that stand.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)



@app.callback()
def _root() -> None:
    """Direct Simulation Optimization: make 3D generators produce objects that stand."""


for _room in ROOMS:
    importlib.import_module(_room).register(app)


def _one_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
              line: str | None = None) -> str:
    """A warning as a user reads it: `warning: <message>`, not the source line that raised it."""
    return f"warning: {message}\n"


def main() -> None:
    """Console-script entry point."""
    warnings.formatwarning = _one_line
    app()
