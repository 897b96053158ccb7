"""`dso export RUN --out DIR [--format released|peft]`: the fine-tuned flow for use outside dso."""

from __future__ import annotations

from pathlib import Path

import typer

from dso.cli_errors import user_errors
from dso.cli_options import quiet_option


@user_errors()
def export_command(
    run: Path = typer.Argument(..., help="Run folder written by `dso train`."),
    out: Path = typer.Option(..., "--out", help="Output folder (must not exist; see --force)."),
    format: str = typer.Option("released", "--format",
                               help="released: merged flow in the released file format "
                                    "(trellis: ss_flow_img_dit_L_16l8_fp16.json/.safetensors; "
                                    "trellis2: ss_flow_img_dit_1_3B_64_bf16.json/.safetensors; "
                                    "dso-tiny: a --weights folder) | peft: the full PEFT "
                                    "state dict of the adapted flow."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
    quiet: bool = quiet_option(),
) -> None:
    """Merge a run's LoRA adapter into its base flow and write it where TRELLIS (or dso) loads it.

    Exit code 0: written; 2: bad run, source weights or output folder (nothing is written).
    """
    from dso.train.checkpoint import unfinished_note
    from dso.train.exporter import export

    if run.is_dir() and (note := unfinished_note(run)) is not None:
        typer.echo(f"note: {note}", err=True)
    result = export(run, out, format=format, force=force, progress=not quiet)  # ExportError: 2
    if result.removed:
        typer.echo(f"note: removed {len(result.removed)} folder(s) left by killed exports to "
                   f"{out}: {', '.join(p.name for p in result.removed)}", err=True)
    typer.echo(f"exported {result.generator} flow ({result.format}, "
               f"{result.stats['parameters'] / 1e6:.1f}M parameters) to {result.out} in "
               f"{result.seconds:.1f} s: {', '.join(result.files)}")
