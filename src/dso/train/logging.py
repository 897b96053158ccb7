"""Per-step training log: JSON lines in RUN/log.jsonl (TensorBoard optional).

Each line is one record, e.g. {"step", "loss", "err_stable", "err_unstable", "grad_norm",
"lr", ...}; NaN becomes null so the file is strict JSON. Evaluation records go to
RUN/eval.jsonl with the same writer.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

LOG_FILE = "log.jsonl"
EVAL_FILE = "eval.jsonl"


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_log(run_dir: str | Path, name: str = LOG_FILE) -> list[dict[str, Any]]:
    """All complete records of a run's log (a torn last line is skipped)."""
    path = Path(run_dir) / name
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def truncate_log(run_dir: str | Path, after_step: int, name: str = LOG_FILE) -> None:
    """Drop records with step > after_step (work after the checkpoint resume starts from)."""
    path = Path(run_dir) / name
    if not path.is_file():
        return
    kept = [r for r in read_log(run_dir, name) if int(r.get("step", 0)) <= after_step]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
    tmp.replace(path)


class RunLog:
    """Appends JSON records to a file in the run folder; a no-op when not enabled."""

    def __init__(self, run_dir: str | Path, *, enabled: bool = True, name: str = LOG_FILE,
                 tensorboard: bool = False) -> None:
        self.path = Path(run_dir) / name
        self.enabled = enabled
        self._tb = None
        if enabled and tensorboard:
            from dso._optional import require

            tb = require("torch.utils.tensorboard", "tensorboard", "TensorBoard logging")
            self._tb = tb.SummaryWriter(str(Path(run_dir) / "tensorboard"))

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (flushed, so a crash loses at most the line being written)."""
        if not self.enabled:
            return
        clean = {k: _clean(v) for k, v in record.items()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as fh:
            fh.write(json.dumps(clean) + "\n")
        if self._tb is not None and "step" in clean:
            for key, value in clean.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._tb.add_scalar(f"{self.path.stem}/{key}", value, clean["step"])

    def close(self) -> None:
        """Flush and close TensorBoard, if used."""
        if self._tb is not None:
            self._tb.close()
            self._tb = None
