"""The demo end to end on the shipped dso-tiny at a small size: outputs, format, resume.

Every run is a real `python` process (one torch thread, so the two runs compared share their
arithmetic); the resume test kills one with SIGKILL in the middle of labelling, then again in
the middle of training DRO (after a checkpoint, before the adapter), and holds the finished
folder to an uninterrupted run of the same settings: the same labels, adapters, training log
and numbers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dso.demo import DemoConfig, run_demo
from dso.demo.config import MODELS, SPLITS

KEYS = ("output_pct", "stable_pct", "one_piece_pct", "rot_deg", "cd", "fscore")
SETTINGS = dict(world_eval=4, eval_views=2, wild_per_family=3, steps=5, workers=1)
SCRIPT = ("import json, sys, torch; torch.set_num_threads(1); "
          "from dso.demo import DemoConfig, run_demo; "
          "run_demo(sys.argv[1], DemoConfig.quick(**json.loads(sys.argv[2])), progress=False)")


def _start(out: Path) -> subprocess.Popen:
    """The demo as its own process group (its oracle workers die with it)."""
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(out), json.dumps(SETTINGS)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _finish(out: Path) -> str:
    proc = _start(out)
    output, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, output
    return output


def _kill_when(out: Path, ready: Callable[[], bool], every_s: float, what: str) -> None:
    """Start the demo in `out` and SIGKILL its process group as soon as `ready()` holds."""
    proc = _start(out)
    deadline = time.monotonic() + 600
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            output, _ = proc.communicate()
            pytest.fail(f"the demo was never {what} (exit {proc.returncode}):\n{output}")
        time.sleep(every_s)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def _labelling(out: Path) -> Callable[[], bool]:
    """Some labels are committed and some samples still wait for theirs."""
    from dso.data.store import SampleStore

    dataset = out / "dataset"

    def ready() -> bool:
        if not (dataset / ".lock-label").exists():  # labelling started: the schema is there
            return False
        with SampleStore.open(dataset) as store:
            return bool(store.label_configs()) and bool(store.to_label(retry_failed=False))
    return ready


def _training_dro(out: Path) -> Callable[[], bool]:
    """DRO has a complete checkpoint and no adapter yet."""
    from dso.train.checkpoint import list_checkpoints

    run = out / "runs" / "dro"

    def ready() -> bool:
        return bool(list_checkpoints(run)) and not (run / "adapter.safetensors").exists()
    return ready


def _eval(out: Path, model: str, split: str) -> dict:
    return json.loads((out / "eval" / f"{model}_{split}.json").read_text())


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, _finish(out)


def test_results_json_has_every_model_and_split(demo):
    out, printed = demo
    summary = json.loads((out / "results.json").read_text())
    for model in MODELS:
        for split in SPLITS:
            numbers = summary[model][split]
            assert all(k in numbers for k in KEYS), (model, split, numbers)
            assert 0.0 <= numbers["output_pct"] <= 100.0
    # the goal's arithmetic, from the per-item verdicts of the two eval files
    stable = {m: 100.0 * sum(r["stable"] is True for r in _eval(out, m, "eval")["items"])
              / len(_eval(out, m, "eval")["items"]) for m in ("base", "dro")}
    assert summary["base"]["eval"]["stable_pct"] == pytest.approx(stable["base"])
    closed = summary["goals"]["dro_gap_closed"]
    if stable["base"] == 100.0:
        assert closed is None  # no gap to close
    else:
        assert closed == pytest.approx((stable["dro"] - stable["base"]) / (100.0 - stable["base"]))
    assert any(line.startswith("| split | model |") for line in printed.splitlines())
    assert (out / "report.md").read_text().startswith("# DSO demo report")
    for name in ("dro", "dpo", "sft"):
        assert (out / "runs" / name / "adapter.safetensors").is_file()


def test_adapters_change_the_model(demo):
    out, _ = demo
    base = [r["tilt_deg"] for r in _eval(out, "base", "eval")["items"]]
    tuned = [r["tilt_deg"] for r in _eval(out, "dro", "eval")["items"]]
    assert len(base) == len(tuned) and base != tuned


def _labels(out: Path) -> list[tuple]:
    from dso.data.store import SampleStore

    with SampleStore.open(out / "dataset") as store:
        return [(r["sample_id"], r["seed"], r["label_status"], r["stable"], r["tilt_deg"],
                 r["pieces"]) for r in store.records()]


def _losses(run: Path) -> list[tuple]:
    lines = (run / "log.jsonl").read_text().splitlines()
    return [(r["step"], r["loss"]) for r in map(json.loads, lines) if "loss" in r]


def test_a_demo_killed_mid_stage_resumes_to_the_uninterrupted_result(demo, tmp_path):
    whole, _ = demo
    out = tmp_path / "killed"
    _kill_when(out, _labelling(out), 0.02, "in the middle of labelling")
    _kill_when(out, _training_dro(out), 0.001, "in the middle of training DRO")
    assert not (out / "runs" / "dro" / "adapter.safetensors").exists()
    _finish(out)
    assert _labels(out) == _labels(whole)
    for name in ("dro", "dpo", "sft"):
        run, ref = out / "runs" / name, whole / "runs" / name
        assert _losses(run) == _losses(ref), name
        assert ((run / "adapter.safetensors").read_bytes()
                == (ref / "adapter.safetensors").read_bytes()), name
    for model in MODELS:
        for split in SPLITS:
            got, want = _eval(out, model, split), _eval(whole, model, split)
            assert got["items"] == want["items"] and got["overall"] == want["overall"]
    got, want = (json.loads((d / "results.json").read_text()) for d in (out, whole))
    assert {k: v for k, v in got.items() if k != "timings_s"} == \
        {k: v for k, v in want.items() if k != "timings_s"}
    # stage times are those of the runs that did the work, not ~0 s for the stages that the
    # last run found done (the world was built by the first, killed, run)
    assert got["timings_s"]["world"] > 0.1
    assert got["timings_s"]["total"] >= 0.5 * want["timings_s"]["total"]


def test_a_run_killed_before_its_first_checkpoint_resumes_from_step_0(demo, tmp_path):
    """What a kill between the first logged step and the first checkpoint leaves: the run's
    config and one log line, nothing to load. The demo trains it again from step 0."""
    import torch

    from dso.demo.pipeline import _train

    whole, _ = demo
    out, ref = tmp_path / "out", whole / "runs" / "dro"
    run = out / "runs" / "dro"
    run.mkdir(parents=True)
    (out / "dataset").symlink_to(whole / "dataset")
    cfg = DemoConfig.quick(**SETTINGS)
    cfg.train_config("dro", out / "dataset", run).save(run)
    (run / "log.jsonl").write_text((ref / "log.jsonl").read_text().splitlines()[0] + "\n")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the demo's processes
    try:
        _train(out, "dro", cfg, False)
    finally:
        torch.set_num_threads(threads)
    assert _losses(run) == _losses(ref)
    assert (run / "adapter.safetensors").read_bytes() == (ref / "adapter.safetensors").read_bytes()


def test_a_folder_of_other_settings_or_an_older_oracle_is_refused(demo, tmp_path):
    from dso.demo.pipeline import DemoError

    out, _ = demo
    cfg = DemoConfig.quick(**SETTINGS)
    with pytest.raises(DemoError, match="steps"):
        run_demo(out, DemoConfig.quick(steps=6), progress=False, log=lambda _: None)
    old = tmp_path / "old"
    old.mkdir()
    (old / "demo_config.json").write_text(json.dumps({**cfg.to_dict(), "oracle_version": "1.0"}))
    with pytest.raises(DemoError, match="oracle_version"):
        run_demo(old, cfg, progress=False, log=lambda _: None)
    assert not (old / "world").exists()  # refused before any work


def test_a_folder_holding_something_else_is_refused(tmp_path):
    from dso.demo.pipeline import DemoError

    other = tmp_path / "dataset"
    other.mkdir()
    (other / "index.sqlite").write_bytes(b"a dataset")
    with pytest.raises(DemoError, match="is not empty and holds no demo"):
        run_demo(other, DemoConfig.quick(**SETTINGS), progress=False, log=lambda _: None)
    assert sorted(p.name for p in other.iterdir()) == ["index.sqlite"]  # nothing written
