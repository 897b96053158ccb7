"""A hand-built labelled store for the sampling and stats tests (real SQLite, real shards)."""

from __future__ import annotations

from pathlib import Path

import torch

from dso.data.files import write_shard
from dso.data.store import SampleStore

# object -> family, views; prompt -> outcomes of its samples (True stable, False unstable,
# None generated with no label yet, "err" an oracle error, "empty" no mesh)
OBJECTS = {"o0": ("lamp", 3), "o1": ("lamp", 2), "o2": ("chair", 1), "o3": ("chair", 2)}
OUTCOMES = {
    "o0/v0": [True, False, False, True],
    "o0/v1": [True, True, True, True],
    "o0/v2": [False, False, "err", "empty"],
    "o1/v0": [True, False, True, False],
    "o1/v1": [False, False, False, False],
    "o2/v0": [True, "err", True, None],
    "o3/v0": [True, True, False, True],
    "o3/v1": [False, True, True, True],
}
MULTI_PIECE = {"o1/v1"}  # its unstable samples are unstable for being two pieces


def build(path: Path) -> SampleStore:
    """Create the store; latent of sample s is filled with s, condition of prompt k with k."""
    store = SampleStore.open(path, create=True)
    prompts, conds, samples, labels, lat = [], [], [], [], []
    for k, (pid, outcomes) in enumerate(OUTCOMES.items()):
        obj, view = pid.split("/v")
        prompts.append({"prompt_id": pid, "position": k, "object_id": obj,
                        "family": OBJECTS[obj][0], "split": "train", "view": int(view)})
        conds.append((pid, "conditions/c.safetensors", k))
        for j, out in enumerate(outcomes):
            sid = 4 * k + j
            s = {"sample_id": sid, "prompt_id": pid, "sample_index": j, "seed": sid,
                 "status": "empty" if out == "empty" else "ok",
                 "latent_shard": "latents/c.safetensors", "latent_index": len(lat),
                 "mesh_path": None if out == "empty" else f"meshes/{sid}.ply"}
            lat.append(torch.full((2, 2, 2, 2), float(sid)))
            samples.append(s)
            lab = {"sample_id": sid, "preset": "accurate", "threshold_deg": 20.0,
                   "oracle_version": "1.0", "attempts": 1}
            if out is True or out is False:
                pieces = 2 if pid in MULTI_PIECE else 1
                labels.append({**lab, "status": "ok", "stable": int(out),
                               "tilt_deg": 2.0 if out else 90.0, "pieces": pieces,
                               "reason": None if out else "pieces" if pieces > 1 else "tilt"})
            elif out == "err":
                labels.append({**lab, "status": "error", "error": "bad mesh"})
    write_shard(path / "latents" / "c.safetensors", {"latents": torch.stack(lat)})
    write_shard(path / "conditions" / "c.safetensors",
                {"cond": torch.arange(len(prompts), dtype=torch.float32)[:, None, None]
                 .expand(-1, 3, 2)})
    with store.transaction():
        store.add_prompts(prompts)
    store.record_chunk(conds, samples)
    store.record_labels(labels)
    return store


def prompt_of(sample_id: int) -> str:
    return list(OUTCOMES)[sample_id // 4]
