"""Run-folder files: the JSONL log and atomic checkpoints."""

import pytest
import torch

from dso.train.checkpoint import latest_checkpoint, list_checkpoints, save_checkpoint
from dso.train.logging import RunLog, read_log, truncate_log
from dso.train.lora import LoraSpec, apply_lora
from tests.train.train_fixtures import one_thread, tiny_flow  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


def test_log_is_strict_json_skips_torn_lines_and_truncates(tmp_path):
    log = RunLog(tmp_path)
    for step in (1, 2, 3):
        log.write({"step": step, "loss": 0.5 * step, "err_unstable": float("nan")})
    with (tmp_path / "log.jsonl").open("a") as fh:
        fh.write('{"step": 4, "lo')  # killed mid-write
    records = read_log(tmp_path)
    assert [r["step"] for r in records] == [1, 2, 3]
    assert records[0]["err_unstable"] is None
    truncate_log(tmp_path, 2)
    assert (tmp_path / "log.jsonl").read_text().count("\n") == 2
    RunLog(tmp_path / "other", enabled=False).write({"step": 1})
    assert not (tmp_path / "other").exists()


def test_checkpoints_are_atomic_and_pruned(tmp_path):
    spec = LoraSpec(2, 4.0, 0.0, ("to_q",))
    model = apply_lora(tiny_flow(), spec)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    for step in (5, 10, 15):
        save_checkpoint(tmp_path, step, model, spec, opt, sched, keep=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [10, 15]
    (tmp_path / "checkpoints" / "step_00000020.tmp").mkdir()     # a crash while writing
    (tmp_path / "checkpoints" / "step_00000025").mkdir()         # no state.pt: incomplete
    assert latest_checkpoint(tmp_path).name == "step_00000015"
