"""`dso pretrain` on a pinned micro-world replays the committed log prefix.

The prefix (`golden/pretrain_log_prefix.jsonl`) is machine-written by
`python -m tests.models.make_pretrain_log`; a change of the world's objects, of the VAE or flow
initialisation, of the data order or of a loss moves these numbers by far more than the
tolerance, which only absorbs the rounding of another CPU's kernels over a few steps.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.models.make_pretrain_log import PREFIX, replay

REL = 1e-4  # relative: bit-identical on one machine and thread count; kernels differ elsewhere


def test_first_pretraining_steps_match_the_committed_log(tmp_path: Path) -> None:
    want = [json.loads(line) for line in PREFIX.read_text().splitlines()]
    threads = torch.get_num_threads()
    try:
        got = replay(tmp_path)
    finally:
        torch.set_num_threads(threads)  # `--threads 1` set it for this process
    assert [(r["phase"], r.get("step")) for r in got] == [(r["phase"], r.get("step")) for r in want]
    for g, w in zip(got, want, strict=True):
        assert set(g) == set(w), (g, w)
        for key, value in w.items():
            if isinstance(value, float):
                assert g[key] == pytest.approx(value, rel=REL), (w["phase"], w.get("step"), key)
            else:
                assert g[key] == value, (w["phase"], w.get("step"), key)
