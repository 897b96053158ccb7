"""Everything a dataset holds, independent of how it was chunked, and its comparison."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from dso.data import SampleStore


def snapshot(path: Path) -> dict:
    """Everything a dataset holds, independent of how it was chunked."""
    with SampleStore.open(path) as store:
        samples = store.samples()
        ok = [s["sample_id"] for s in samples if s["latent_shard"]]
        prompts = [p for p in store.prompts() if p["cond_shard"]]
        meshes = {s["sample_id"]: hashlib.sha1((path / s["mesh_path"]).read_bytes()).hexdigest()
                  for s in samples if s["mesh_path"]}
        strip = ("latent_shard", "latent_index")
        return {
            "samples": [{k: v for k, v in s.items() if k not in strip} for s in samples],
            "prompts": [p["prompt_id"] for p in store.prompts()],
            "latents": store.latents(ok) if ok else None,
            "conds": store.conditions([p["prompt_id"] for p in prompts]),
            "meshes": meshes,
        }


def assert_same(a: dict, b: dict) -> None:
    assert a["samples"] == b["samples"]
    assert a["prompts"] == b["prompts"]
    assert torch.equal(a["latents"], b["latents"])
    assert torch.equal(a["conds"], b["conds"])
    assert a["meshes"] == b["meshes"]
