"""LoRA adapters on the flow transformer (PEFT), saved as safetensors.

Only `generator.flow` is adapted (docs/method.md §LoRA: stability is decided by the coarse
structure). An adapter folder holds `adapter.safetensors` (PEFT state dict, adapter name stripped)
and `adapter_config.json` (rank, alpha, dropout, targets).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from dso.models.loading import non_finite, read_safetensors, save_safetensors

ADAPTER_FILE = "adapter.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
FORMAT = "dso-lora-v1"


@dataclass(frozen=True)
class LoraSpec:
    """What an adapter needs to be rebuilt on a fresh copy of the base network."""

    rank: int
    alpha: float
    dropout: float
    targets: tuple[str, ...]
    # `dso.models.loading.state_fingerprint` of the flow the adapter was trained on (None in
    # adapters written before it was recorded): an adapter fits only that flow
    base: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-able dict with a format tag."""
        out = {"format": FORMAT, **asdict(self), "targets": list(self.targets)}
        if self.base is None:
            del out["base"]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoraSpec:
        """Inverse of to_json."""
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} adapter config: format={data.get('format')!r}")
        return cls(int(data["rank"]), float(data["alpha"]), float(data["dropout"]),
                   tuple(data["targets"]), data.get("base"))


def present_targets(module: torch.nn.Module, targets: tuple[str, ...]) -> list[str]:
    """The target names that match at least one Linear layer of `module` (by last name part)."""
    found = {name.rsplit(".", 1)[-1] for name, sub in module.named_modules()
             if isinstance(sub, torch.nn.Linear)}
    return [t for t in targets if t in found]


def apply_lora(flow: torch.nn.Module, spec: LoraSpec) -> Any:
    """Wrap `flow` in a PEFT model with LoRA on the named Linear layers; base frozen.

    The returned PeftModel is called like `flow` and has `disable_adapter()`.
    """
    from peft import LoraConfig, get_peft_model

    targets = present_targets(flow, spec.targets)
    if not targets:
        raise ValueError(
            f"none of the LoRA targets {list(spec.targets)} names a Linear layer of "
            f"{type(flow).__name__}"
        )
    config = LoraConfig(r=spec.rank, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                        target_modules=targets, bias="none")
    return get_peft_model(flow, config)


def adapter_state(model: Any) -> dict[str, torch.Tensor]:
    """The LoRA weights of a PEFT model, contiguous on CPU."""
    from peft import get_peft_model_state_dict

    return {k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(model).items()}


def save_adapter(model: Any, spec: LoraSpec, folder: str | Path) -> Path:
    """Write adapter_config.json, then adapter.safetensors into `folder`, each through a
    temporary file and a rename: the adapter file appears whole or not at all (callers such as
    the demo take its presence to mean the run finished)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config_tmp = folder / f".{ADAPTER_CONFIG}.tmp-{os.getpid()}"
    config_tmp.write_text(json.dumps(spec.to_json(), indent=2) + "\n")
    os.replace(config_tmp, folder / ADAPTER_CONFIG)
    tmp = folder / f".{ADAPTER_FILE}.tmp-{os.getpid()}"
    save_safetensors(adapter_state(model), tmp, {"format": FORMAT})
    os.replace(tmp, folder / ADAPTER_FILE)
    return folder


def load_adapter_state(model: Any, folder: str | Path) -> None:
    """Load adapter.safetensors from `folder` into a PEFT model; every key must match."""
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    state = read_safetensors(Path(folder) / ADAPTER_FILE)
    not_finite = non_finite(state)
    if not_finite:  # merged into the base, they would make every output NaN
        raise ValueError(f"adapter in {folder} holds NaN or infinite values in "
                         f"{len(not_finite)} tensors, e.g. {not_finite[:2]}: it cannot be used; "
                         "take an earlier checkpoint (RUN/checkpoints)")
    missing = sorted(set(get_peft_model_state_dict(model)) - set(state))
    if missing:  # PEFT would leave those layers at their initialisation, silently
        raise ValueError(f"adapter in {folder} does not fit this network: it has no weights "
                         f"for {len(missing)} of its LoRA layers, e.g. {missing[:3]}")
    try:
        result = set_peft_model_state_dict(model, state)
    except RuntimeError as err:  # shapes that do not match (another model size)
        first = str(err).strip().splitlines()
        raise ValueError(f"adapter in {folder} does not fit this network: "
                         f"{first[-1].strip() if first else err}") from err
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    if unexpected:
        raise ValueError(f"adapter in {folder} does not fit this network: {unexpected[:3]}")
