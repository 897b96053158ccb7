"""`dso check MESH...`: the stability oracle on the command line.

Contract: with --json, stdout holds exactly one JSON object per input mesh, one per line, in
input order. Exit 0 when every mesh was evaluated, 1 when any could not be (or --render could
not be made), 2 on usage errors (the contract of every command: `dso.cli_errors`). Progress
goes to stderr.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from dso.cli_errors import user_errors
from dso.cli_options import quiet_option


class Up(str, Enum):
    """Which axis of the input points up ("auto": by the file's format)."""

    auto = "auto"
    z = "z"
    y = "y"


class Preset(str, Enum):
    """Oracle preset."""

    accurate = "accurate"
    dso = "dso"


# The oracle's options, as `dso check` and `dso label` both take them.
def preset_option() -> Any:
    """--preset accurate | dso."""
    return typer.Option(
        Preset.accurate, "--preset",
        help="accurate (default): exact mass, and an object of two or more pieces (surfaces 1% "
             "of its size apart or more) is unstable; pieces under 0.5% of the volume are "
             "debris, dropped before the simulation. dso: the original release, the whole mesh "
             "as one glued body, to compare with the paper's numbers.")


def threshold_option() -> Any:
    """--threshold DEG."""
    return typer.Option(
        20.0, "--threshold", metavar="DEG",
        help="Stable iff the final angle < DEG. accurate compares the tilt of the up axis from "
             "vertical; dso the release's total rotation 2*acos(w) of the final quaternion, "
             "yaw included.")


def max_faces_option() -> Any:
    """--max-faces N."""
    return typer.Option(1_000_000, "--max-faces", min=0,
                        help="Meshes over this many faces are decimated to it first (0: no cap).")


def refuse_over_cap_option() -> Any:
    """--refuse-over-cap."""
    return typer.Option(False, "--refuse-over-cap",
                        help="Report over-cap meshes as errors (too_many_faces) instead of "
                             "decimating them.")


@user_errors()
def check(
    meshes: list[Path] = typer.Argument(
        ..., help="Mesh files (.obj .ply .stl .off .glb .gltf), or directories: a directory "
                  "stands for the mesh files directly inside it (by name, not recursive, "
                  "hidden files skipped)."),
    up: Up = typer.Option(
        Up.auto, "--up",
        help="Up axis of the input. auto (default): .glb/.gltf are read y-up (glTF's own "
             "convention; TRELLIS writes y-up GLB), every other format z-up. z or y: every "
             "input, whatever its format."),
    preset: Preset = preset_option(),
    threshold: float = threshold_option(),
    workers: int = typer.Option(None, "--workers", help="Worker processes (default: cores).",
                                min=1),
    max_faces: int = max_faces_option(),
    refuse_over_cap: bool = refuse_over_cap_option(),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per mesh per line "
                                 "(every key: docs/oracle.md, JSON output)."),
    render: Path = typer.Option(None, "--render", metavar="FILE",
                                help="Write FILE.png (start and end pose) or FILE.gif (the fall) "
                                     "of the first 12 meshes evaluated."),
    perturb: float = typer.Option(0.0, "--perturb", min=0.0, max=2.0, metavar="DEG",
                                  help="Also roll out from starts tilted DEG (at most 2) either "
                                       "way about x and y; stable only if every one stays up, "
                                       "so a body balanced on a point or an edge falls "
                                       "(reason: perturbed). 0 (default): off, as dso label."),
    quiet: bool = quiet_option(),
) -> None:
    """Does each mesh stand under gravity? Simulates it upright on flat ground for 10 s.

    Stable means one piece that stands: tilt under the threshold after 10 s, and (accurate
    preset) one significant piece. The table's "pieces" column gives the significant pieces
    and "+N" debris pieces dropped; a multi-piece object shows the verdict PIECES. A directory
    stands for the mesh files directly inside it.

    Exit codes: 0 every mesh was evaluated (stable or not), 1 some could not be (each is
    reported with its error), 2 usage error (nothing was checked).
    """
    if not 0.0 < threshold < 180.0:
        raise typer.BadParameter("must be in (0, 180)", param_hint="--threshold")
    if render is not None and render.suffix.lower() not in (".png", ".gif"):
        raise typer.BadParameter("must end in .png or .gif", param_hint="--render")
    from dso.physics.batch import check_many
    from dso.physics.config import OracleConfig
    from dso.physics.summary import summary_lines

    paths = expand_paths(meshes)
    config = OracleConfig.from_preset(
        preset.value, up=up.value, threshold_deg=threshold, max_faces=max_faces,
        on_too_many_faces="refuse" if refuse_over_cap else "decimate", perturb_deg=perturb)
    results = check_many(paths, workers=workers, config=config, progress=not quiet)
    if as_json:
        for result in results:
            typer.echo(json.dumps(result.to_dict(), allow_nan=False))
    else:
        typer.echo("\n".join(summary_lines(results)))
    code = 0 if all(r.status == "ok" for r in results) else 1
    if render is not None and not _render(paths, results, render, config):
        code = 1
    raise typer.Exit(code)


def expand_paths(meshes: list[Path]) -> list[str]:
    """The inputs as paths, in order, a directory replaced by the mesh files directly inside it
    (sorted by name; suffixes as `MESH_SUFFIXES`, any case; hidden files skipped). A directory
    with none is a usage error (ValueError). A missing path stays, to be reported as its item."""
    from dso.physics.config import MESH_SUFFIXES

    paths = []
    for path in meshes:
        if not path.is_dir():
            paths.append(str(path))
            continue
        found = sorted((f for f in path.iterdir() if f.suffix.lower() in MESH_SUFFIXES
                        and not f.name.startswith(".") and f.is_file()), key=lambda f: f.name)
        if not found:
            raise ValueError(f"{path}: a directory with no mesh files directly inside it "
                             f"({' '.join(MESH_SUFFIXES)}; subdirectories are not searched): "
                             "pass the mesh files or the directory that holds them")
        paths += [str(f) for f in found]
    return paths


def _render(paths: list[str], results: list, out: Path, config: Any) -> bool:
    """Draw the evaluated meshes under the command's `config`, captioned with `results`."""
    from dso.physics import render as drawing
    from dso.physics.render import RenderUnavailable, render_checks

    good = [(p, r) for p, r in zip(paths, results, strict=True) if r.status == "ok"]
    if not good:
        typer.echo("--render: no mesh could be evaluated, nothing to draw", err=True)
        return False
    try:
        backend = render_checks([p for p, _ in good], out, config=config,
                                results=[r for _, r in good])
    except RenderUnavailable as err:
        typer.echo(f"--render: {err}", err=True)
        return False
    typer.echo(f"wrote {out} ({backend} renderer)", err=True)
    if len(good) > drawing.MAX_MESHES:  # the picture holds the first MAX_MESHES only
        typer.echo(f"drew {drawing.MAX_MESHES} of {len(good)} meshes in "
                   f"{out.suffix[1:].upper()}", err=True)
    return True


def register(app: typer.Typer) -> None:
    """Add `dso check` to the CLI."""
    app.command("check")(check)
