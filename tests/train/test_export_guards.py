"""What export and adapter loading refuse: an output over the run or its weights, an adapter on
base weights other than those it was trained on, an adapter that does not fit the network.

Real runs of the tiny dso-tiny-format model (3 steps), real files; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from dso.cli import app
from dso.models import get_generator
from dso.models.flow import SparseStructureFlowModel
from dso.models.loading import save_model
from dso.train import TrainConfig, export, load_adapter, train
from dso.train.checkpoint import adapt, adapter_step, checkpoint_dir, find_adapter, unfinished_note
from dso.train.exporter import ExportError
from tests.train.train_fixtures import (  # noqa: F401
    FLOW_ARGS,
    ToySource,
    one_thread,
    tiny_flow,
    write_tiny_weights,
)

pytestmark = pytest.mark.usefixtures("one_thread")


class StopAt(ToySource):
    """The toy DRO source, interrupted (Ctrl-C) when asked for batch `stop`."""

    def __init__(self, stop: int) -> None:
        super().__init__("dro", 4)
        self.stop = stop

    def batch(self, step: int):
        if step >= self.stop:
            raise KeyboardInterrupt
        return super().batch(step)


def _train(weights, run, steps: int = 3, resume: bool = False, save_every: int = 100,
           source=None):
    cfg = TrainConfig(dataset="memory", out=str(run), objective="dro", weights=str(weights),
                      steps=steps, batch_size=4, lr=1e-2, warmup=0, lora_rank=4,
                      save_every=save_every, ascent_bound=0.8)
    gen = get_generator("dso-tiny", weights=weights)
    return train(cfg, generator=gen, source=source or ToySource("dro", 4), resume=resume,
                 progress=False)


@pytest.fixture
def run(tmp_path):
    weights = write_tiny_weights(tmp_path / "weights")
    _train(weights, tmp_path / "run")
    return SimpleNamespace(root=tmp_path, weights=weights, run=tmp_path / "run")


def _files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _cli(*args):
    return CliRunner().invoke(app, ["export", *map(str, args), "--quiet"])


def test_export_never_writes_over_the_run_or_its_weights(run):
    before = {"run": _files(run.run), "weights": _files(run.weights)}
    for out in (run.run, run.run / "checkpoints", run.weights, run.root):
        result = _cli(run.run, "--out", out, "--force")
        assert result.exit_code == 2, result.output
        assert "would overwrite" in result.output and "Traceback" not in result.output
    assert {"run": _files(run.run), "weights": _files(run.weights)} == before


def test_force_replaces_an_earlier_export_only(run):
    out = run.root / "export"
    assert _cli(run.run, "--out", out).exit_code == 0
    assert _cli(run.run, "--out", out, "--force").exit_code == 0  # an earlier export: replaced
    (out / "notes.txt").write_text("mine")
    refused = _cli(run.run, "--out", out, "--force")
    assert refused.exit_code == 2 and "notes.txt" in refused.output
    assert (out / "notes.txt").read_text() == "mine"


def test_an_adapter_refuses_a_base_that_already_holds_it(run):
    # the mistake: the merged export copied over the base weights, then exported again
    first = export(run.run, run.root / "first")
    for name in ("flow.json", "flow.safetensors"):
        shutil.copyfile(run.root / "first" / name, run.weights / name)
    with pytest.raises(ExportError, match="trained on other base weights"):
        export(run.run, run.root / "second")
    assert not (run.root / "second").exists()
    with pytest.raises(ValueError, match="trained on other base weights"):
        load_adapter(get_generator("dso-tiny", weights=run.weights), run.run)
    # the weights it was trained on still take it
    assert first.flow is not None
    shutil.copytree(run.weights, run.root / "w2")
    save_model(tiny_flow(0), run.root / "w2", "flow", FLOW_ARGS)  # the original base again
    load_adapter(get_generator("dso-tiny", weights=run.root / "w2"), run.run)


def test_resume_refuses_other_base_weights(tmp_path):
    weights = write_tiny_weights(tmp_path / "weights")
    _train(weights, tmp_path / "run", steps=2, save_every=1)
    (tmp_path / "run" / "adapter.safetensors").unlink()  # as if stopped before its end
    save_model(tiny_flow(1), weights, "flow", FLOW_ARGS)  # other base weights, same path
    with pytest.raises(ValueError, match="trained on other base weights"):
        _train(weights, tmp_path / "run", steps=4, resume=True, save_every=1)


def _without_base(run_dir) -> None:
    """Make the run's adapter look like one written before the base was recorded."""
    path = run_dir / "adapter_config.json"
    cfg = json.loads(path.read_text())
    cfg.pop("base")
    path.write_text(json.dumps(cfg))


@pytest.mark.parametrize("change, message", [
    ({"model_channels": 48}, "size mismatch"),  # another width: PEFT raises a RuntimeError
    ({"num_blocks": 3}, "has no weights for"),  # more blocks: PEFT would leave them at init
])
def test_an_adapter_that_does_not_fit_is_a_clear_error(run, change, message):
    _without_base(run.run)
    torch.manual_seed(0)
    other = SparseStructureFlowModel(**{**FLOW_ARGS, **change})
    with pytest.raises(ValueError, match=message) as err:
        adapt(other, run.run)
    assert "does not fit this network" in str(err.value)


def _merged(weights, adapter) -> dict[str, torch.Tensor]:
    return load_adapter(get_generator("dso-tiny", weights=weights), adapter).flow.state_dict()


def test_a_longer_resume_stopped_early_is_used_from_its_checkpoint_not_the_old_end(tmp_path):
    weights = write_tiny_weights(tmp_path / "weights")
    run = tmp_path / "run"
    _train(weights, run, steps=3, save_every=1)  # finished: RUN/adapter.safetensors of step 3
    old = tmp_path / "old"
    old.mkdir()
    for name in ("adapter.safetensors", "adapter_config.json"):
        shutil.copyfile(run / name, old / name)
    with pytest.raises(KeyboardInterrupt):  # --resume --steps 6, stopped after step 4
        _train(weights, run, steps=6, resume=True, save_every=1, source=StopAt(4))
    assert not (run / "adapter.safetensors").exists()
    assert not (run / "adapter_config.json").exists()
    assert find_adapter(run) == checkpoint_dir(run, 4) and adapter_step(run) == 4
    assert "using its checkpoint of step 4 of 6" in unfinished_note(run)
    exported = export(run, tmp_path / "export").flow.state_dict()
    newer, older = _merged(weights, checkpoint_dir(run, 4)), _merged(weights, old)
    assert all(torch.equal(exported[k], newer[k]) for k in newer)
    assert not all(torch.equal(exported[k], older[k]) for k in older)
    result = _cli(run, "--out", tmp_path / "export2")
    assert result.exit_code == 0 and "checkpoint of step 4 of 6" in result.stderr


@pytest.mark.parametrize("content, reason", [
    (None, "No such file or directory"),
    ('{"format": "dso-lora-v1", "rank": 4,', "Expecting"),  # cut short
    ('{"format": "dso-lora-v1"}', "no field 'rank'"),
    ("[1, 2]", "'list' object has no attribute"),
])
def test_a_missing_or_corrupt_adapter_config_is_named(run, content, reason):
    path = run.run / "adapter_config.json"
    if content is None:
        path.unlink()
    else:
        path.write_text(content)
    result = _cli(run.run, "--out", run.root / "export")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"error: {path} is missing or corrupt (")
    assert reason in result.stderr and not (run.root / "export").exists()
    with pytest.raises(ValueError, match="is missing or corrupt"):
        load_adapter(get_generator("dso-tiny", weights=run.weights), run.run)


def test_an_adapter_with_nan_weights_is_refused(run):
    from dso.models.loading import read_safetensors, save_safetensors
    from dso.train.lora import ADAPTER_FILE, FORMAT

    path = run.run / ADAPTER_FILE
    state = read_safetensors(path)
    first = sorted(state)[0]
    state[first] = state[first].clone()
    state[first].view(-1)[0] = float("nan")
    save_safetensors(state, path, {"format": FORMAT})
    result = _cli(run.run, "--out", run.root / "export")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "holds NaN or infinite values in 1 tensors" in result.stderr
    assert first in result.stderr and not (run.root / "export").exists()


def test_a_peft_adapter_config_over_dso_s_is_named(run):
    path = run.run / "adapter_config.json"
    path.write_text('{"format": "peft", "r": 4}')
    result = _cli(run.run, "--out", run.root / "export")
    assert result.exit_code == 2
    assert f"error: {path} is not dso's adapter config (not a dso-lora-v1 adapter config: " \
           "format='peft')" in result.stderr


def test_resume_names_a_corrupt_checkpoint_adapter_config(tmp_path):
    weights = write_tiny_weights(tmp_path / "weights")
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):  # stopped after step 2: no final adapter
        _train(weights, run, steps=4, save_every=1, source=StopAt(2))
    (checkpoint_dir(run, 2) / "adapter_config.json").write_text("{")
    with pytest.raises(ValueError, match=r"step_00000002/adapter_config.json is missing or "
                                         r"corrupt \(Expecting"):
        _train(weights, run, steps=4, resume=True, save_every=1)


def _dead_pid() -> int:
    """The pid of a process that has run and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_folders_of_killed_exports_are_removed_by_the_next_one(run):
    dead = _dead_pid()
    out = run.root / "export"
    stale = run.root / f".export.tmp-{dead}-k1ll"
    stale.mkdir()
    (stale / "flow.safetensors").write_bytes(b"x" * 1000)  # half written
    kept = [run.root / f".export.tmp-{os.getpid()}-live",  # a live export's
            run.root / f".other.tmp-{dead}-abcd",  # another --out's
            run.root / ".export.tmp-nopid"]  # no pid in the name: unknown owner
    for path in kept:
        path.mkdir()
    result = _cli(run.run, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"note: removed 1 folder(s) left by killed exports to {out}: {stale.name}" \
        in result.stderr
    assert not stale.exists() and all(path.is_dir() for path in kept)
    assert (out / "flow.safetensors").is_file()
    assert sorted(p.name for p in run.root.iterdir() if p.name.startswith(".export.")) == \
        sorted(p.name for p in kept if p.name.startswith(".export."))
    again = run.root / f".export.tmp-{dead}-2nd"  # the Python API clears them too
    again.mkdir()
    assert export(run.run, out, force=True).removed == [again] and not again.exists()
