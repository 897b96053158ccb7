"""`dso world build` and `dso world show`."""

from __future__ import annotations

from pathlib import Path

import typer

from dso.cli_errors import RERUN_RESUMES, user_errors
from dso.cli_options import quiet_option

world_app = typer.Typer(help="The procedural object world: build it, look at it.",
                        no_args_is_help=True)


@world_app.command("build")
@user_errors(on_interrupt=RERUN_RESUMES)
def build(
    out: Path = typer.Argument(..., help="folder to build (or resume) the world in"),
    n: int = typer.Option(3000, "--n", help="number of training objects"),
    seed: int = typer.Option(0, "--seed", help="world seed"),
    families: list[str] = typer.Option(None, "--families", help="families to use (repeat)"),
    resolution: int = typer.Option(32, "--resolution", help="occupancy grid resolution"),
    image_size: int = typer.Option(64, "--image-size", help="rendered view size in pixels"),
    n_eval: int = typer.Option(65, "--n-eval", help="evaluation objects (12 views each)"),
    n_synthetic: int = typer.Option(600, "--n-synthetic", help="synthetic-only prompt objects"),
    n_val: int = typer.Option(60, "--n-val", help="validation objects (2 views each): held-out "
                              "training-family objects to choose settings on"),
    wild_per_family: int = typer.Option(30, "--wild-per-family",
                                        help="in-the-wild images per held-out family"),
    workers: int = typer.Option(None, "--workers", min=1,
                                help="worker processes (default: cores)"),
    quiet: bool = quiet_option(),
) -> None:
    """Build the world into OUT; objects already there are kept (resumable)."""
    from dso.world.build import build_world

    world = build_world(out, n_train=n, seed=seed, families=families or None,
                        resolution=resolution, image_size=image_size, n_eval=n_eval,
                        n_synthetic=n_synthetic, n_val=n_val, wild_per_family=wild_per_family,
                        workers=workers, progress=not quiet)
    meta = world.meta
    typer.echo(f"{len(world)} objects in {out} ({meta['build_seconds']} s building)")
    for split, counts in meta["counts"].items():
        typer.echo(f"  {split:<10} {sum(counts.values()):>6}  " +
                   ", ".join(f"{f} {c}" for f, c in counts.items()))
    rejected = ", ".join(f"{f} {100 * x:.0f}%" for f, x in meta["rejected_fraction"].items())
    typer.echo(f"  draws rejected by the gate (unstable or in pieces): {rejected}")
    if meta["failed"]:
        typer.echo(f"  {len(meta['failed'])} slots found no stable object", err=True)
    if not len(world):
        raise ValueError("the world holds no object: are --families only held-out ones (they "
                         "go to the wild split alone) with --wild-per-family 0?")


@world_app.command("show")
@user_errors()
def show(
    out: Path = typer.Argument(..., help="a built world folder"),
    png: Path = typer.Option(None, "--png", help="where to write (default OUT/contact_sheet.png)"),
    per_family: int = typer.Option(4, "--per-family", min=1, help="objects per family"),
    size: int = typer.Option(64, "--size", min=8, help="tile size in pixels"),
    split: str = typer.Option(None, "--split", help="only this split"),
) -> None:
    """Write a contact sheet PNG: per family, objects' first views and their voxel grids."""
    from dso.world.index import World
    from dso.world.sheet import contact_sheet

    world = World.open(out)
    path = contact_sheet(world, png or Path(out) / "contact_sheet.png", per_family=per_family,
                         size=size, split=split)
    typer.echo(str(path))


def register(app: typer.Typer) -> None:
    """Add `dso world ...` to the CLI."""
    app.add_typer(world_app, name="world")
