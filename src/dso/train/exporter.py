"""`export`: a training run's LoRA adapter merged into its flow, written for use outside dso.

Formats:
- `released` (default): the merged flow as `<name>.json` + `<name>.safetensors`. For `trellis`
  that is `ss_flow_img_dit_L_16l8_fp16.*`, the released file pair TRELLIS's own
  `from_pretrained` loads strictly: the json's `name` and `args` are the source model's, the
  tensors have the released keys and shapes, and their dtypes are those TRELLIS holds after
  building the model (`dso.models.loading.release_dtypes`: fp16 Linear layers in the blocks
  when `use_fp16`). For `trellis2` it is `ss_flow_img_dit_1_3B_64_bf16.*`, TRELLIS.2's file
  pair, by the same rule: the blocks' Linear layers in the json's `dtype` (bf16 as released),
  the rest fp32 and `rope_phases` complex64. For `dso-tiny` the output is a whole weights folder
  (`--weights` loads it): the merged flow in the source file's dtypes, the other parts copied
  unchanged.
- `peft`: `flow_peft.safetensors`, the full state dict of the PEFT-wrapped (unmerged) flow
  (`base_model.model....base_layer.weight`, `...lora_A.default.weight`), which
  `get_peft_model(flow, LoraConfig(...)).load_state_dict(...)` loads strictly, plus
  `peft_config.json` with the LoraConfig arguments and the source model's json.

The output folder is written under a temporary name beside it (`.OUT.tmp-PID-XXXX`) and renamed
when complete, so a killed export leaves no half-written folder; the temporary folders of
exports whose process is gone (SIGKILL, a crash) are removed by the next export to OUT.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn
from tqdm.auto import tqdm

from dso.models.loading import save_safetensors
from dso.publish import replace_folder, temp_folder

FORMATS = ("released", "peft")
PEFT_FILE = "flow_peft.safetensors"
PEFT_CONFIG = "peft_config.json"
_TINY_COPIED = ("decoder", "encoder", "image_encoder")
RELEASES = ("trellis", "trellis2")  # generators whose flow is written in a released format


def _release_flow_name(generator: str) -> str:
    """The released stage-1 flow's file name of `generator` (one of RELEASES)."""
    if generator == "trellis2":
        from dso.models.trellis2 import FLOW_NAME
    else:
        from dso.models.trellis import FLOW_NAME
    return FLOW_NAME


class ExportError(ValueError):
    """The run, its source weights or the output folder cannot be used for an export."""


@dataclass
class ExportResult:
    """What `export` wrote; `flow` is the exported model in memory (float32, CPU, eval)."""

    out: Path
    format: str
    generator: str
    files: list[str]
    flow: nn.Module
    seconds: float
    stats: dict[str, int] = field(default_factory=dict)
    removed: list[Path] = field(default_factory=list)  # killed exports' folders cleared


@dataclass(frozen=True)
class FlowSource:
    """Where a run's base flow lives: `<directory>/<name>.{json,safetensors}`."""

    generator: str
    directory: Path
    name: str


def flow_source(generator: str, weights: str | Path | None) -> FlowSource:
    """The base flow files of `generator` ('trellis', 'trellis2' or 'dso-tiny') with `weights`."""
    if generator in RELEASES:
        from dso.models.trellis import find_checkpoint

        name = _release_flow_name(generator)
        if weights is None:
            raise ExportError(f"the run's config names no {generator} weights folder")
        found = find_checkpoint(Path(weights), name)
        if found is None:
            raise ExportError(f"{name}.json not found in {weights} or {weights}/ckpts "
                              "(the run's base weights moved?)")
        return FlowSource(generator, found, name)
    if generator == "dso-tiny":
        from dso.models.tiny import default_weights_dir

        directory = Path(weights) if weights is not None else default_weights_dir()
        if not (directory / "flow.json").is_file():
            raise ExportError(f"no dso-tiny weights in {directory}")
        return FlowSource(generator, directory, "flow")
    raise ExportError("export supports the trellis, trellis2 and dso-tiny generators, not "
                      f"{generator!r}")


_ST_DTYPES = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32,
              "F64": torch.float64}


def _file_dtypes(path: Path) -> dict[str, torch.dtype]:
    """Per-key dtypes of a safetensors file, read from its header (no tensor is loaded)."""
    with safe_open(str(path), framework="pt") as fh:
        return {k: _ST_DTYPES.get(fh.get_slice(k).get_dtype(), torch.float32) for k in fh.keys()}


def target_dtypes(source: FlowSource, flow: nn.Module, args: dict) -> dict[str, torch.dtype]:
    """The dtype each exported key is written in (see the module docstring)."""
    from dso.models.loading import args_blocks_dtype, release_dtypes

    if source.generator in RELEASES:
        return release_dtypes(flow, args_blocks_dtype(args))
    return _file_dtypes(source.directory / f"{source.name}.safetensors")


def released_state(flow: nn.Module, dtypes: dict[str, torch.dtype]) -> dict[str, torch.Tensor]:
    """`flow`'s state dict cast to `dtypes` (works on meta tensors; no copy to CPU)."""
    return {k: v.detach().to(dtypes.get(k, v.dtype)) for k, v in flow.state_dict().items()}


def _as_float32(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating tensors as float32 (complex buffers such as `rope_phases` unchanged)."""
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def _peft_dtype(key: str, dtypes: dict[str, torch.dtype]) -> torch.dtype:
    """LoRA weights float32 (as PEFT makes them); a base tensor keeps its released dtype."""
    if ".lora_" in key:
        return torch.float32
    inner = key.removeprefix("base_model.model.")  # ...x.base_layer.weight or ...x.weight
    return dtypes.get(inner, dtypes.get(inner.replace(".base_layer.", "."), torch.float32))


def _save(state: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    save_safetensors({k: v.cpu().contiguous() for k, v in state.items()}, path, metadata)


def _publish(tmp: Path, out: Path, force: bool) -> None:
    """Put the finished `tmp` folder in place of `out` (replacing it only with `force`)."""
    if out.exists() and not force:
        raise ExportError(f"{out} already exists; pass --force to replace it")
    replace_folder(tmp, out)


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise ExportError(f"{out} already exists; pass --force to replace it")
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder")


def _export_names(source: FlowSource) -> set[str]:
    """Every file name an export of `source` writes, in either format."""
    names = {f"{source.name}.json", f"{source.name}.safetensors", PEFT_FILE, PEFT_CONFIG}
    if source.generator == "dso-tiny":
        names |= {f"{part}.{ext}" for part in _TINY_COPIED for ext in ("json", "safetensors")}
        names.add("generator.json")
    return names


def _check_out_safe(out: Path, run: Path, source: FlowSource, weights: str | Path | None) -> None:
    """ExportError when writing `out` (which --force replaces whole) could destroy the run or
    its base weights, or files that are not an earlier export's."""
    target = out.resolve()
    for keep, what in ((run, "the run"), (source.directory, "the base weights"),
                       (weights, "the base weights")):
        if keep is None:
            continue
        keep = Path(keep).resolve()
        if target == keep or keep in target.parents or target in keep.parents:
            raise ExportError(f"--out {out} would overwrite {what} ({keep}): choose a folder "
                              "outside the run and the weights it was trained on")
    if out.is_dir():
        other = sorted(p.name for p in out.iterdir() if p.name not in _export_names(source))
        if other:
            raise ExportError(f"{out} holds files that an export does not write "
                              f"({', '.join(other[:4])}{', ...' if len(other) > 4 else ''}): "
                              "--force replaces an earlier export only; choose another --out")


def _adapted(source: FlowSource, run: Path, weights: str | Path | None):
    """(json of the source flow, PEFT-wrapped flow carrying the run's adapter, spec)."""
    from dso.models.loading import load_model, read_config
    from dso.train.checkpoint import adapt, base_label

    raw = read_config(source.directory, source.name)
    model, spec = adapt(load_model(source.directory, source.name), run,
                        given=base_label(source.generator, weights))
    return raw, model, spec


def export(run: str | Path, out: str | Path, *, format: str = "released", force: bool = False,
           progress: bool = False) -> ExportResult:
    """Merge (or, for `peft`, keep) RUN's adapter on its base flow and write it to `out`."""
    from dso.train.config import TrainConfig

    began = time.perf_counter()
    if format not in FORMATS:
        raise ExportError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    run, out = Path(run), Path(out)
    if run.is_file():
        raise ExportError(f"{run} is a file: give the run's folder ({run.parent})")
    if not run.is_dir():
        raise ExportError(f"run folder not found: {run}")
    _check_out(out, force)
    try:
        cfg = TrainConfig.load(run)
    except (FileNotFoundError, ValueError) as err:
        raise ExportError(str(err)) from err
    source = flow_source(cfg.generator, cfg.weights)
    _check_out_safe(out, run, source, cfg.weights)
    bar = tqdm(total=3, desc=f"export {format}", disable=not progress, unit="stage")
    try:
        raw, model, spec = _adapted(source, run, cfg.weights)
    except (FileNotFoundError, ValueError) as err:  # ModelLoadError, an adapter that won't fit
        raise ExportError(str(err)) from err
    bar.update(1)
    tmp, removed = temp_folder(out)
    try:
        if format == "released":
            flow, files = _write_released(source, raw, model, tmp)
        else:
            flow, files = _write_peft(source, raw, model, spec, tmp)
        bar.update(1)
        _publish(tmp, out, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    bar.update(1)
    bar.close()
    n_params = sum(p.numel() for p in flow.parameters())
    return ExportResult(out, format, cfg.generator, files, flow, time.perf_counter() - began,
                        {"parameters": n_params}, removed)


def _write_released(source: FlowSource, raw: dict, model, tmp: Path):
    merged = model.merge_and_unload().eval()
    state = released_state(merged, target_dtypes(source, merged, raw["args"]))
    _save(state, tmp / f"{source.name}.safetensors", {"format": "pt"})
    cfg = {"name": raw["name"], "args": raw["args"]}
    (tmp / f"{source.name}.json").write_text(json.dumps(cfg, indent=4) + "\n")
    files = [f"{source.name}.json", f"{source.name}.safetensors"]
    if source.generator == "dso-tiny":
        for part in _TINY_COPIED:
            for ext in ("json", "safetensors"):
                shutil.copyfile(source.directory / f"{part}.{ext}", tmp / f"{part}.{ext}")
                files.append(f"{part}.{ext}")
        if (source.directory / "generator.json").is_file():
            shutil.copyfile(source.directory / "generator.json", tmp / "generator.json")
            files.append("generator.json")
    # what was written is what the caller holds: the merged flow at the written precision
    merged.load_state_dict(_as_float32(state))
    return merged, sorted(files)


def _write_peft(source: FlowSource, raw: dict, model, spec, tmp: Path):
    base = model.get_base_model()
    dtypes = target_dtypes(source, base, raw["args"])
    state = {k: v.detach() if v.is_complex() else v.detach().to(_peft_dtype(k, dtypes))
             for k, v in model.state_dict().items()}
    _save(state, tmp / PEFT_FILE, {"format": "pt"})
    wrapped = set(model.peft_config["default"].target_modules)  # the targets present
    lora = {"r": spec.rank, "lora_alpha": spec.alpha, "lora_dropout": spec.dropout,
            "target_modules": [t for t in spec.targets if t in wrapped]}
    info = {"lora_config": lora, "base_model": {"name": raw["name"], "args": raw["args"],
                                                "file": f"{source.name}.safetensors"}}
    (tmp / PEFT_CONFIG).write_text(json.dumps(info, indent=2) + "\n")
    model.load_state_dict(_as_float32(state))
    return model, sorted([PEFT_FILE, PEFT_CONFIG])
