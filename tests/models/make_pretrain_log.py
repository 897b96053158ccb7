"""Write the committed log prefix of `dso pretrain` on a pinned micro-world.

    PYTHONPATH=src python -m tests.models.make_pretrain_log

Builds the micro-world with `dso world build` (a few objects of two families, seed 0), runs
`dso pretrain` on it with the shipped dso-tiny sizes for the first VAE and flow steps (one
thread, every step logged), and writes the log's records without their wall-clock `seconds`
to `tests/models/golden/pretrain_log_prefix.jsonl`. `test_models_pretrain_log.py` replays the
same commands and compares. Rerun this only when a change of the world or of pretraining is
meant to change the losses, and say so in the commit.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from typer.testing import CliRunner

from dso.cli import app
from dso.models.pretrain_config import PretrainConfig

PREFIX = Path(__file__).parent / "golden" / "pretrain_log_prefix.jsonl"
WORLD_ARGS = ["--n", "4", "--seed", "0", "--families", "stool", "--families", "bottle",
              "--n-eval", "0", "--n-synthetic", "0", "--n-val", "0", "--wild-per-family", "0",
              "--workers", "1"]
STEPS = 4  # VAE steps, then flow steps: all in warm-up, where the lr does not depend on totals
CONFIG = dataclasses.replace(PretrainConfig(), vae_steps=STEPS, flow_steps=STEPS, log_every=1)


def replay(tmp: Path) -> list[dict]:
    """Build the micro-world and pretrain on it in `tmp`; the log records minus `seconds`."""
    runner = CliRunner()
    world, out, config = tmp / "world", tmp / "tiny", tmp / "config.json"
    result = runner.invoke(app, ["world", "build", str(world), *WORLD_ARGS])
    if result.exit_code:
        raise RuntimeError(f"dso world build failed: {result.output}")
    config.write_text(json.dumps(CONFIG.to_dict()))
    result = runner.invoke(app, ["pretrain", "--world", str(world), "--out", str(out),
                                 "--config", str(config), "--threads", "1", "--quiet"])
    if result.exit_code:
        raise RuntimeError(f"dso pretrain failed: {result.output}")
    lines = (out / "pretrain_log.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]


def main() -> None:
    """Replay in a temporary folder and write the prefix."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        records = replay(Path(tmp))
    PREFIX.write_text("".join(json.dumps(r) + "\n" for r in records))
    print(f"wrote {len(records)} records to {PREFIX}")


if __name__ == "__main__":
    main()
