"""Load and save models in the released TRELLIS format: `<name>.json` + `<name>.safetensors`.

The json holds `{"name": <class name>, "args": {...constructor arguments...}}`. Loading is strict:
missing keys, unexpected keys, shape mismatches and non-float tensors raise `ModelLoadError`
naming the offending keys. Half-precision tensors (the released checkpoints store transformer
blocks in fp16 or bf16) are cast to the model's dtype (float32 by default) unless
`allow_cast=False`, in which case they raise too. TRELLIS.2's `rope_phases` (complex64) is a
fixed function of the args: a file may omit it (the built value is kept); if present it must
equal the built value.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from dso.models.encoders import TinyImageEncoder
from dso.models.flow import DTYPES, SparseStructureFlowModel
from dso.models.vae import SparseStructureDecoder, SparseStructureEncoder

MODEL_CLASSES: dict[str, type[nn.Module]] = {
    "SparseStructureFlowModel": SparseStructureFlowModel,
    "SparseStructureDecoder": SparseStructureDecoder,
    "SparseStructureEncoder": SparseStructureEncoder,
    "TinyImageEncoder": TinyImageEncoder,
}


# Parts that TRELLIS converts to float16 when a model is built with `use_fp16=True`: the Linear
# and Conv3d layers inside these submodules (norms, embeddings and outer layers stay float32).
FP16_PARTS: dict[str, tuple[str, ...]] = {"SparseStructureFlowModel": ("blocks",)}


# Buffers that are a fixed function of the constructor arguments: a file may leave them out.
DERIVED_BUFFERS = ("rope_phases",)


def _umask() -> int:
    """The process's umask, read without changing it where Linux says it (/proc), since
    setting it even for an instant would apply to files other threads create then."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask


def default_mode(directory: bool = False) -> int:
    """The permissions `open()` or `mkdir()` would give a new file or folder here (umask)."""
    return (0o777 if directory else 0o666) & ~_umask()


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """`safetensors.torch.load_file`, with a truncated or corrupt file a ModelLoadError that
    names it (safetensors raises its own error type, which reads as a crash)."""
    try:
        return load_file(str(path))
    except Exception as err:  # SafetensorError, OSError: the file is not what it says
        raise ModelLoadError(f"{path} cannot be read as safetensors ({err}): it is truncated "
                             "or corrupt; copy or write it again") from None


def save_safetensors(state: dict[str, torch.Tensor], path: str | Path,
                     metadata: dict[str, str] | None = None) -> None:
    """`safetensors.torch.save_file`, with the file given the umask's permissions: save_file
    creates it owner-only (0600), which breaks weights copied for other users or services."""
    save_file(state, str(path), metadata=metadata)
    os.chmod(path, default_mode())


def state_fingerprint(module: nn.Module) -> str:
    """A hash of `module`'s state dict: every tensor's name, shape, dtype and bytes."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(module.state_dict().items()):
        h.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class ModelLoadError(ValueError):
    """A checkpoint does not match the architecture its json describes."""


def _short(keys: list[str], limit: int = 8) -> str:
    more = f" ... (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def read_config(directory: str | Path, name: str) -> dict:
    """The parsed `<name>.json`, checked to hold a known `name` and an `args` dict."""
    path = Path(directory) / f"{name}.json"
    if not path.is_file():
        raise ModelLoadError(f"missing config file {path}")
    try:
        cfg = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ModelLoadError(f"{path} is not valid json: {err}") from err
    if not isinstance(cfg, dict) or not isinstance(cfg.get("args"), dict):
        raise ModelLoadError(f"{path} must hold {{'name': ..., 'args': {{...}}}}")
    if cfg.get("name") not in MODEL_CLASSES:
        raise ModelLoadError(
            f"{path}: unknown model class {cfg.get('name')!r}; known: {sorted(MODEL_CLASSES)}"
        )
    return cfg


def build_model(cfg: dict, device: str | torch.device = "cpu") -> nn.Module:
    """Instantiate the class named in `cfg` with its args (on `device`, e.g. 'meta')."""
    cls = MODEL_CLASSES[cfg["name"]]
    try:
        with torch.device(device):
            return cls(**cfg["args"])
    except TypeError as err:
        raise ModelLoadError(f"bad arguments for {cfg['name']}: {err}") from err


def non_finite(state: dict[str, torch.Tensor]) -> list[str]:
    """The names of the tensors in `state` holding a NaN or an infinity, sorted."""
    return sorted(k for k, v in state.items() if not bool(torch.isfinite(v).all()))


def check_state_dict(
    model: nn.Module, state: dict[str, torch.Tensor], allow_cast: bool = True,
    source: str | Path | None = None,
) -> dict[str, torch.Tensor]:
    """Validate `state` against `model` and return it cast to the model's dtypes. NaN or
    infinite values are refused too (a diverged training's weights). `source` (the file)
    starts the error message."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state) - set(DERIVED_BUFFERS))
    unexpected = sorted(set(state) - set(own))
    problems = []
    if missing:
        problems.append(f"missing keys: {_short(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_short(unexpected)}")
    bad_shape = [
        f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if state[k].shape != own[k].shape
    ]
    if bad_shape:
        problems.append(f"shape mismatch: {_short(bad_shape)}")
    not_float = sorted(k for k, v in state.items() if not v.is_floating_point()
                       and not (v.is_complex() and k in own and own[k].is_complex()))
    if not_float:
        problems.append(f"non-float tensors: {_short(not_float)}")
    not_finite = non_finite(state)
    if not_finite:
        problems.append(f"NaN or infinite values in {_short(not_finite)}")
    derived = [k for k in DERIVED_BUFFERS if k in state and k in own and not own[k].is_meta
               and state[k].shape == own[k].shape
               and not torch.allclose(state[k].to(own[k]), own[k], atol=1e-5)]
    if derived:
        problems.append(f"{_short(derived)} differ from the values the json's args define")
    cast = sorted(k for k in set(own) & set(state) if state[k].dtype != own[k].dtype)
    if cast and not allow_cast:
        dtypes = sorted({str(state[k].dtype) for k in cast})
        problems.append(
            f"dtype {dtypes} differs from the model's (allow_cast=False): {_short(cast)}"
        )
    if problems:
        where = "" if source is None else f"{source}: "
        raise ModelLoadError(where + "; ".join(problems))
    out = {k: v.to(own[k].dtype) for k, v in state.items()}
    return {**{k: own[k] for k in DERIVED_BUFFERS if k in own and k not in out}, **out}


def load_model(
    directory: str | Path,
    name: str,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    allow_cast: bool = True,
) -> nn.Module:
    """Build the model described by `<name>.json` and load `<name>.safetensors` strictly."""
    cfg = read_config(directory, name)
    weights = Path(directory) / f"{name}.safetensors"
    if not weights.is_file():
        raise ModelLoadError(f"missing weights file {weights}")
    model = build_model(cfg).to(dtype)
    state = check_state_dict(model, read_safetensors(weights), allow_cast=allow_cast,
                             source=weights)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()


def save_model(
    model: nn.Module,
    directory: str | Path,
    name: str,
    args: dict,
    dtype: torch.dtype | None = None,
) -> None:
    """Write `<name>.json` ({name, args}) and `<name>.safetensors` (optionally cast to `dtype`,
    e.g. float16 to halve the file; `load_model` casts back to float32)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cfg = {"name": type(model).__name__, "args": args}
    (directory / f"{name}.json").write_text(json.dumps(cfg, indent=2) + "\n")
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        state[k] = v.contiguous()
    save_safetensors(state, directory / f"{name}.safetensors")


def args_blocks_dtype(args: dict) -> torch.dtype | None:
    """The dtype a release's args put the blocks' layers in: float16 for v1's `use_fp16`,
    TRELLIS.2's `dtype` (e.g. 'bfloat16'), None for float32 throughout."""
    if args.get("use_fp16"):
        return torch.float16
    dtype = DTYPES.get(str(args.get("dtype")), torch.float32)
    return None if dtype == torch.float32 else dtype


def release_dtypes(model: nn.Module, use_fp16: bool | torch.dtype | None
                   ) -> dict[str, torch.dtype]:
    """The dtype of each floating state-dict key as the reference holds it after building
    `model`'s class (complex buffers such as `rope_phases` are left out: they keep theirs).

    With `use_fp16` (True: float16; or a dtype, e.g. TRELLIS.2's bfloat16), weights and biases of
    Linear/Conv3d layers inside the parts listed in `FP16_PARTS` are in that dtype; every other
    tensor (and everything when it is False/None) float32. Works on meta-device models.
    """
    out = {k: torch.float32 for k, v in model.state_dict().items() if v.is_floating_point()}
    if not use_fp16:
        return out
    half = torch.float16 if use_fp16 is True else use_fp16
    for part in FP16_PARTS.get(type(model).__name__, ()):
        for name, sub in getattr(model, part).named_modules():
            if isinstance(sub, nn.Linear | nn.Conv3d):
                for pname, _ in sub.named_parameters(recurse=False):
                    out[f"{part}.{name}.{pname}"] = half
    return out
