"""Crash-resume: SIGKILL a real training process mid-run, resume, compare with a clean run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from toy_train_run import config
from train_fixtures import ToySource, tiny_generator

from dso.train import read_log, train
from dso.train.checkpoint import list_checkpoints

SCRIPT = str(Path(__file__).parent / "toy_train_run.py")
STEPS = 16


def _run(out, delay, *extra):
    return subprocess.Popen([sys.executable, SCRIPT, str(out), str(STEPS), str(delay), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _reference(out):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(config(str(out), STEPS), generator=tiny_generator(),
              source=ToySource("dro", 8, seed=7), progress=False)
    finally:
        torch.set_num_threads(threads)
    return read_log(out)


def test_sigkill_then_resume_reproduces_the_uninterrupted_losses(tmp_path):
    run = tmp_path / "crashed"
    proc = _run(run, 0.15)
    deadline = time.time() + 60
    while not list_checkpoints(run) and time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    time.sleep(0.2)  # let it get past the checkpoint: those steps must be redone, not kept
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = max(r["step"] for r in read_log(run))
    assert 4 <= killed_at < STEPS
    assert list_checkpoints(run)[-1][0] == 4

    resumed = _run(run, 0.0, "--resume")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert f"resumed_from=4 ran={STEPS - 4}" in out  # it did not start over

    got, want = read_log(run), _reference(tmp_path / "clean")
    assert [r["step"] for r in got] == list(range(1, STEPS + 1))
    assert [r["loss"] for r in got] == [r["loss"] for r in want]
    assert [r["grad_norm"] for r in got] == [r["grad_norm"] for r in want]
