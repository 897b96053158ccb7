"""benchmarks/gpu.py: skips cleanly without CUDA, and every stage runs (tiny, on the CPU)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the check would run")
def test_without_cuda_it_says_so_and_exits_0(capsys):
    assert _module().main([]) == 0
    assert "gpu check skipped: no CUDA device" in capsys.readouterr().out


@pytest.mark.parametrize("generator", ["trellis", "trellis2"])
def test_smoke_runs_every_stage_and_prints_the_table(capsys, generator):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert _module().main(["--smoke", "--prompts", "2", "--batch", "4", "--workers", "1",
                               "--generator", generator]) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    params = {"trellis": "(196,680)", "trellis2": "(194,674)"}[generator]  # golden vectors
    assert f"{generator} flow" in out and params in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r.split(" | ")[0] for r in rows] == ["| stage"] + ["| sample 12 steps, guidance 7.5",
                                                              "| decode to 32^3",
                                                              "| DRO step, batch 4, LoRA r64, bf16",
                                                              "| DPO step, batch 4, LoRA r64, bf16",
                                                              "| oracle on 32^3 grids"]
    assert "OOM" not in out
    counts = re.search(r"ok (\d+), errors (\d+), empty (\d+)", out)
    assert counts and sum(map(int, counts.groups())) == 2  # every grid was meshed and checked
