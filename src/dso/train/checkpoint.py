"""Checkpoints: adapter safetensors + optimizer/scheduler/RNG state + step, written atomically.

Layout: RUN/checkpoints/step_00000050/{adapter.safetensors, adapter_config.json, state.pt}.
A checkpoint folder is written under a temporary name and renamed when complete, so a crash
never leaves a half-written checkpoint that resume would pick up.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from dso.train.lora import (
    ADAPTER_CONFIG,
    ADAPTER_FILE,
    FORMAT,
    LoraSpec,
    apply_lora,
    load_adapter_state,
    save_adapter,
)

CHECKPOINTS = "checkpoints"
STATE_FILE = "state.pt"
_NAME = re.compile(r"^step_(\d{8})$")


def checkpoint_dir(run_dir: str | Path, step: int) -> Path:
    """RUN/checkpoints/step_XXXXXXXX."""
    return Path(run_dir) / CHECKPOINTS / f"step_{step:08d}"


def run_of(folder: str | Path) -> Path:
    """The run a folder belongs to: RUN for RUN/checkpoints/step_N, else the folder itself."""
    folder = Path(folder)
    return folder.parents[1] if folder.parent.name == CHECKPOINTS else folder


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run as (step, folder), oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _NAME.match(path.name)
        if match and (path / STATE_FILE).is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The most recent complete checkpoint folder, or None."""
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    model: Any,
    spec: LoraSpec,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    *,
    keep: int = 2,
    world_size: int = 1,
) -> Path:
    """Write the checkpoint for `step` (steps completed) and prune all but the last `keep`;
    `world_size`: the processes training the run (a resume must use as many)."""
    final = checkpoint_dir(run_dir, step)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_adapter(model, spec, tmp)
    state = {
        "step": step,
        "world_size": world_size,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
    }
    torch.save(state, tmp / STATE_FILE)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for _, old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(
    folder: str | Path, model: Any, optimizer: torch.optim.Optimizer, scheduler: Any
) -> int:
    """Restore adapter, optimizer, scheduler and RNG from `folder`; return the step."""
    folder = Path(folder)
    load_adapter_state(model, folder)
    state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"])


def saved_world_size(folder: str | Path) -> int | None:
    """The number of processes that trained the checkpoint in `folder` (None: written before
    checkpoints recorded it). Memory-mapped: the optimizer state is not read."""
    state = torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=True,
                       mmap=True)
    size = state.get("world_size")
    return None if size is None else int(size)


def check_world_size(folder: str | Path, world_size: int, per_process: int) -> None:
    """ValueError when the checkpoint in `folder` was trained on another number of processes
    than `world_size` (unknown for older checkpoints: accepted). Each process draws its own
    rows (`dso.data.sampling.BatchSource`), so another count changes the batch per step and
    the data order; `per_process`: batch_size x grad_accum."""
    saved = saved_world_size(folder)
    if saved is None or saved == world_size:
        return
    how = ("in a single process (no torchrun)" if saved == 1
           else f"with torchrun --nproc-per-node {saved}")
    raise ValueError(f"{run_of(folder)} was trained on {saved} process(es), a batch "
                     f"of {saved * per_process} per step; resuming on {world_size} would make it "
                     f"{world_size * per_process} and draw the rows in another order: resume it "
                     f"{how}, or start a new run")


def find_adapter(run_or_ckpt_dir: str | Path) -> Path:
    """The folder holding the adapter: the folder itself, else its latest checkpoint."""
    root = Path(run_or_ckpt_dir)
    if (root / ADAPTER_FILE).is_file():
        return root
    latest = latest_checkpoint(root)
    if latest is None:
        raise FileNotFoundError(f"no {ADAPTER_FILE} in {root} nor in {root}/checkpoints/*")
    return latest


def adapter_step(run_or_ckpt_dir: str | Path) -> int | None:
    """The step of the checkpoint `find_adapter` falls back to (a run that has not finished,
    or a checkpoint folder); None for a run's final adapter."""
    root = Path(run_or_ckpt_dir)
    if (root / ADAPTER_FILE).is_file():
        match = _NAME.match(root.name)
        return int(match.group(1)) if match else None
    found = list_checkpoints(root)
    return found[-1][0] if found else None


def unfinished_note(run_or_ckpt_dir: str | Path) -> str | None:
    """One line for people when `find_adapter` gives a checkpoint of a run with no final
    adapter (stopped before its last step), else None."""
    from dso.train.config import CONFIG_FILE

    root = Path(run_or_ckpt_dir)
    if (root / ADAPTER_FILE).is_file() or (step := adapter_step(root)) is None:
        return None
    planned = ""
    if (root / CONFIG_FILE).is_file():
        planned = f" of {json.loads((root / CONFIG_FILE).read_text()).get('steps')}"
    return (f"{root} has not finished (no {ADAPTER_FILE}): using its checkpoint of step "
            f"{step}{planned}; finish it with dso train --resume")


def load_adapter(generator: Any, run_or_ckpt_dir: str | Path, *, merge: bool = True,
                 given: str | None = None) -> Any:
    """Put a trained adapter on `generator.flow` (in place) and return the generator.

    `run_or_ckpt_dir` is a run folder (its final adapter, else its latest checkpoint) or a
    checkpoint folder. With `merge` the LoRA weights are folded into the base Linear layers
    (no runtime cost); otherwise `generator.flow` becomes the PEFT model. `given`: how the
    caller's base weights are named in an error (`base_label`).
    """
    from peft import PeftModel

    if isinstance(generator.flow, PeftModel):
        raise ValueError("generator.flow already carries an adapter")
    model, _ = adapt(generator.flow, run_or_ckpt_dir, given=given)
    generator.flow = model.merge_and_unload() if merge else model
    return generator


def read_spec(folder: str | Path) -> LoraSpec:
    """The LoraSpec in `folder`/adapter_config.json; ValueError naming the file when it is
    missing, unreadable or not dso's."""
    path = Path(folder) / ADAPTER_CONFIG
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:  # JSONDecodeError, UnicodeDecodeError
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        raise ValueError(f"{path} is missing or corrupt ({reason})") from err
    try:
        return LoraSpec.from_json(data)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        if isinstance(data, dict) and data.get("format") not in (None, FORMAT):
            # another format tag, e.g. PEFT's own adapter_config.json copied over it
            raise ValueError(f"{path} is not dso's adapter config ({err})") from err
        what = f"no field {err}" if isinstance(err, KeyError) else err
        raise ValueError(f"{path} is missing or corrupt ({what})") from err


def adapt(flow: torch.nn.Module, run_or_ckpt_dir: str | Path, *, given: str | None = None
          ) -> tuple[Any, LoraSpec]:
    """`flow` wrapped in PEFT with the run's adapter loaded (eval mode), and its LoRA spec."""
    from dso.models.loading import state_fingerprint

    folder = find_adapter(run_or_ckpt_dir)
    spec = read_spec(folder)
    if spec.base is not None:  # adapters written before the base was recorded: unchecked
        check_base(spec, state_fingerprint(flow), folder, given)
    model = apply_lora(flow, spec)
    load_adapter_state(model, folder)
    return model.eval(), spec


def base_label(generator: str, weights: str | Path | None) -> str:
    """How messages name a generator's base weights: 'G with --weights DIR' or 'G's shipped'."""
    if weights is None:
        return f"{generator}'s shipped weights"
    return f"{generator} with --weights {Path(weights).resolve()}"


def trained_on(folder: str | Path) -> str | None:
    """`base_label` of the weights the run of `folder` was trained on (its config.json), or
    None when that cannot be read."""
    from dso.train.config import CONFIG_FILE

    try:
        cfg = json.loads((run_of(folder) / CONFIG_FILE).read_text())
        return base_label(str(cfg["generator"]), cfg.get("weights"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_base(spec: LoraSpec, fingerprint: str | None, folder: str | Path,
               given: str | None = None) -> None:
    """ValueError unless `fingerprint` (`dso.models.loading.state_fingerprint` of a flow) is
    that of the flow the adapter of `spec` was trained on, when both are known: LoRA on other
    base weights is another model, and on a flow that already carries the merged adapter (an
    export copied over the base) it applies twice. `given`: the `base_label` of that flow."""
    if None in (spec.base, fingerprint) or fingerprint == spec.base:
        return
    trained = trained_on(folder)
    if trained is not None and given is not None and given != trained:
        raise ValueError(f"the adapter in {folder} was trained on other base weights than "
                         f"these: on {trained}, not {given}; use the weights the run was "
                         "trained on")
    named = f" ({trained})" if trained is not None else ""
    raise ValueError(f"the adapter in {folder} was trained on other base weights than "
                     f"these{named}: has the base flow been replaced (e.g. by a merged export "
                     "copied over it)? Use the weights the run was trained on")
