"""Time `dso export` of a TRELLIS run at the released size (555M-parameter flow, LoRA r64).

    .venv/bin/python benchmarks/export.py [--rank 64] [--keep DIR] [--generator dso-tiny]

Builds, in a temporary folder, released-format source files (`ss_flow_img_dit_L_16l8_fp16`,
random weights, blocks in fp16 as released: ~1.1 GB) and a run folder holding a random r64
adapter on the paper's targets (what `dso train` leaves behind), then times `dso export` in
both formats. Needs ~8 GB of RAM and ~4 GB of disk; no GPU. Prints one line per format.
`--generator dso-tiny` does the same for the shipped dso-tiny weights (rank 16 by default).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def make_source(root: Path) -> Path:
    """Released-format flow files under root/trellis/ckpts (random weights)."""
    from safetensors.torch import save_file

    from dso.models.flow import SparseStructureFlowModel
    from dso.models.loading import release_dtypes
    from dso.models.trellis import FLOW_NAME, RELEASED_ARGS

    args = RELEASED_ARGS[FLOW_NAME]
    ckpts = root / "trellis" / "ckpts"
    ckpts.mkdir(parents=True)
    torch.manual_seed(0)
    flow = SparseStructureFlowModel(**args)
    dtypes = release_dtypes(flow, True)
    state = {k: v.to(dtypes[k]).contiguous() for k, v in flow.state_dict().items()}
    save_file(state, str(ckpts / f"{FLOW_NAME}.safetensors"))
    (ckpts / f"{FLOW_NAME}.json").write_text(json.dumps({"name": type(flow).__name__,
                                                         "args": args}))
    return root / "trellis"


def make_run(root: Path, generator: str, weights: Path | None, rank: int) -> Path:
    """A run folder (config.json + adapter) as `dso train` writes it, with a random adapter."""
    from dso.models.loading import load_model
    from dso.train.config import TrainConfig
    from dso.train.exporter import flow_source
    from dso.train.lora import LoraSpec, apply_lora, save_adapter

    run = root / "run"
    cfg = TrainConfig(dataset="none", out=str(run), generator=generator,
                      weights=None if weights is None else str(weights), lora_rank=rank,
                      lora_alpha=2.0 * rank)
    cfg.save(run)
    spec = LoraSpec(cfg.lora_rank, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_targets)
    source = flow_source(generator, weights)
    model = apply_lora(load_model(source.directory, source.name), spec)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 1e-3)
    save_adapter(model, spec, run)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", default="trellis", choices=("trellis", "dso-tiny"))
    parser.add_argument("--rank", type=int, default=None, help="LoRA rank [64; dso-tiny 16]")
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep the files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        tiny = args.generator == "dso-tiny"
        weights = None if tiny else make_source(root)
        run = make_run(root, args.generator, weights, args.rank or (16 if tiny else 64))
        print(f"source files and run made in {time.perf_counter() - start:.0f} s")
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
        for fmt in ("released", "peft"):
            out = root / f"export-{fmt}"
            began = time.perf_counter()
            subprocess.run([sys.executable, "-m", "dso", "export", str(run), "--out", str(out),
                            "--format", fmt, "--quiet"], check=True, env=env)
            size = sum(f.stat().st_size for f in out.iterdir()) / 2**20
            print(f"dso export --format {fmt}: {time.perf_counter() - began:.1f} s wall "
                  f"(process start included), {size:.1f} MiB written")


if __name__ == "__main__":
    main()
