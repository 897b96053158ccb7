"""`dso pretrain`: train the built-in dso-tiny generator on a built world; the sampling
options that `dso generate` and `dso eval` share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from dso.cli_errors import user_errors
from dso.cli_options import quiet_option


def guidance_option() -> Any:
    """`--guidance`: classifier-free guidance strength for sampling (default: the generator's)."""
    return typer.Option(None, "--guidance", min=0.0,
                        help="Classifier-free guidance strength of the sampler (default: the "
                             "generator's own, 7.5 for dso-tiny, TRELLIS and TRELLIS.2). "
                             "dso-tiny and TRELLIS: v_c + w (v_c - v_u), so 0 is no guidance. "
                             "TRELLIS.2 uses its own form w v_c + (1 - w) v_u: 1 is no "
                             "guidance and 0 samples unconditioned.")


@user_errors()
def pretrain_command(
    world: Path = typer.Option(..., "--world", help="a built world (dso world build)"),
    out: Path = typer.Option(..., "--out", help="folder for the dso-tiny weights"),
    vae_steps: int = typer.Option(None, "--vae-steps", help="VAE steps (default: config)"),
    flow_steps: int = typer.Option(None, "--flow-steps", help="flow steps (default: config)"),
    seed: int = typer.Option(None, "--seed", help="training seed (default: config)"),
    config: Path = typer.Option(
        None, "--config", help="json of PretrainConfig fields (e.g. a run's pretrain.json)"
    ),
    threads: int = typer.Option(None, "--threads", min=1,
                                help="torch threads (default: torch's)"),
    split: str = typer.Option("train", "--split", help="world split to train on (not eval or "
                              "wild: they are held out)"),
    quiet: bool = quiet_option(),
) -> None:
    """Train the structure VAE, then the flow and the image encoder; write a weights folder
    that `get_generator("dso-tiny", weights=OUT)` loads."""
    import dataclasses

    import torch

    from dso.models.pretrain import load_world_split, pretrain
    from dso.models.pretrain_config import PretrainConfig
    from dso.world import World

    cfg = PretrainConfig.from_json(config) if config else PretrainConfig()
    overrides = {"vae_steps": vae_steps, "flow_steps": flow_steps, "seed": seed}
    cfg = dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    cfg.validate()
    if threads:
        torch.set_num_threads(threads)
    data = load_world_split(world, split, cfg.image_size, progress=not quiet)
    typer.echo(f"pretraining on {len(data.grids)} objects of {world} ({split})")
    source = {"world": str(world), "split": split, "threads": torch.get_num_threads()}
    source["world_config"] = World.open(world).meta.get("config", {})
    path = pretrain(data, out, cfg, progress=not quiet, source=source)
    typer.echo(f"wrote {path} (log: {path / 'pretrain_log.jsonl'})")


def register(app: typer.Typer) -> None:
    """Add `dso pretrain` to the CLI."""
    app.command("pretrain")(pretrain_command)
