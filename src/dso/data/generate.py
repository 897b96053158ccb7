"""`generate_dataset`: sample a generator on a prompt set into a resumable sample store.

Work is cut into chunks of consecutive prompts. For each chunk the conditions shard, the latents
shard and the meshes are written first (atomically), then the chunk's rows go into the index in
one transaction. A prompt is done once its sample rows exist, so a rerun after a kill redoes at
most the chunks that were in flight (up to two per generating thread), and redoes them
identically: sample j of the prompt at position i always has seed `seed + i * n + j` and sample
id `i * n + j`.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path

from dso.data.backends import check_backend
from dso.data.chunks import Chunk, default_local_workers, local_chunks, ray_chunks
from dso.data.files import OCCUPANCY, atomic_write_bytes, write_shard
from dso.data.manifest import export_manifest
from dso.data.prompts import Prompt
from dso.data.store import SUBDIRS, DatasetError, SampleStore, Summary
from dso.interrupts import reraise_if_interrupted

COND_DTYPES = ("float32", "float16", "bfloat16")
# meta keys that must agree for a rerun to resume an existing dataset
_RESUME_KEYS = ("generator", "weights_fingerprint", "sampler", "n", "seed", "latent_shape",
                "cond_dtype")


def weights_fingerprint(generator, flow_fingerprint: str | None = None) -> str:
    """A hash of the generator's weights (its own `fingerprint` if it has one, else the flow's:
    `flow_fingerprint` when the caller has it already)."""
    own = getattr(generator, "fingerprint", None)
    if isinstance(own, str):
        return own
    if flow_fingerprint is not None:
        return flow_fingerprint
    from dso.models.loading import state_fingerprint

    return state_fingerprint(generator.flow)


# sampler settings added with TRELLIS.2: left out of the meta at their neutral values, so a
# dataset written before them still resumes (its stored sampler dict has not got them)
_LATER_SAMPLER_FIELDS = {"guidance_form": "trellis", "guidance_rescale": 0.0}


def _sampler_dict(generator) -> dict:
    sampler = getattr(generator, "sampler", None)
    if sampler is None:
        return {}
    raw = asdict(sampler) if is_dataclass(sampler) else dict(vars(sampler))
    return {k: list(v) if isinstance(v, tuple) else v for k, v in raw.items()
            if not (k in _LATER_SAMPLER_FIELDS and v == _LATER_SAMPLER_FIELDS[k])}


def _prompts_fingerprint(prompts: Sequence[Prompt]) -> str:
    h = hashlib.sha1()
    for p in prompts:
        h.update(p.prompt_id.encode() + b"\0")
    return h.hexdigest()


def _same_file(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one is missing: compare the paths
        return os.path.abspath(a) == os.path.abspath(b)


def _check_same_images(store: SampleStore, requested: dict[str, Prompt]) -> None:
    """DatasetError when a stored prompt is now asked for with another image file (another
    world with the same object ids), or its file now holds another picture than the one it
    was encoded from (a world rebuilt in place): its samples would be mixed with the new
    image's. A file that cannot be read now is not compared (nothing will encode it)."""
    moved, changed = [], []
    for row in store.prompts():
        prompt = requested[row["prompt_id"]]
        now = prompt.image_path
        if row["image_path"] and now and not _same_file(row["image_path"], str(now)):
            moved.append(f"{row['prompt_id']}: {row['image_path']} -> {now}")
        elif row.get("image_sha1") and prompt.image_digest() not in (None, row["image_sha1"]):
            changed.append(f"{row['prompt_id']} ({now})")
    if moved:
        raise DatasetError(
            f"{store.root} was generated from other image files for {len(moved)} of its "
            f"prompts (e.g. {'; '.join(moved[:2])}): resume with the same --world or "
            "--images, or use a new --out")
    if changed:
        raise DatasetError(
            f"the image files of {len(changed)} of {store.root}'s prompts changed since they "
            f"were encoded (e.g. {'; '.join(changed[:2])}): the world was rebuilt or the "
            "images edited; use a new --out for the new images")


def _expected_meta(generator, prompts: Sequence[Prompt], n: int, seed: int,
                   cond_dtype: str) -> dict:
    from dso import __version__

    return {
        "generator": generator.name,
        "weights_fingerprint": weights_fingerprint(generator),
        "sampler": _sampler_dict(generator),
        "n": n,
        "seed": seed,
        "latent_shape": list(generator.latent_shape),
        "resolution": int(generator.resolution),
        "prompts_fingerprint": _prompts_fingerprint(prompts),
        "n_prompts": len(prompts),
        "cond_dtype": cond_dtype,
        "dso_version": __version__,
    }


def _open_or_init(store: SampleStore, expected: dict,
                  prompts: Sequence[Prompt]) -> list[Prompt]:
    """Check a resumed store's settings; add new prompts. Returns prompts in position order.

    The stored prompts must all be requested again; requested prompts the store lacks are
    appended after them (a dataset can grow), keeping every stored position and seed.
    """
    meta = store.meta()
    if "generator" not in meta:
        with store.transaction():
            store.set_meta(expected)
            store.add_prompts([p.row(i) for i, p in enumerate(prompts)])
        return list(prompts)
    diffs = [k for k in _RESUME_KEYS if meta.get(k) != expected[k]]
    if diffs:
        detail = "; ".join(f"{k}: stored {meta.get(k)!r}, now {expected[k]!r}" for k in diffs)
        raise DatasetError(
            f"{store.root} was generated with other settings and cannot be resumed ({detail}). "
            "Rerun with the same generator, weights, --n, --seed and --guidance (the sampler), "
            "or use a new --out."
        )
    stored = [p["prompt_id"] for p in store.prompts()]
    requested = {p.prompt_id: p for p in prompts}
    missing = [pid for pid in stored if pid not in requested]
    if missing:
        raise DatasetError(
            f"{store.root} holds {len(missing)} prompts this run does not ask for (e.g. "
            f"{', '.join(missing[:3])}); give the same prompts, or more to grow the dataset"
        )
    _check_same_images(store, requested)
    known = set(stored)
    new = [p for p in prompts if p.prompt_id not in known]
    ordered = [requested[pid] for pid in stored] + new
    if new:
        with store.transaction():
            store.add_prompts([p.row(len(stored) + i) for i, p in enumerate(new)])
            store.set_meta({"n_prompts": len(ordered),
                            "prompts_fingerprint": _prompts_fingerprint(ordered)})
    return ordered


def generate_dataset(store_path: str | Path, generator, prompts: Sequence[Prompt], *, n: int,
                     seed: int = 0, batch_size: int = 64, progress: bool = True,
                     cond_dtype: str = "float32", backend: str = "local",
                     address: str | None = None, workers: int | None = None,
                     remote: tuple[str, str | Path | None, float | None] | None = None,
                     retry_failed: bool = False) -> Summary:
    """Generate `n` samples per prompt into the store at `store_path`, resuming if it exists.

    `batch_size` is the number of samples per generator call; a chunk (one shard, one
    transaction) holds `max(1, batch_size // n)` prompts. Conditions are stored in `cond_dtype`
    (float16 halves the size of DINOv2 tokens) and read back as float32.
    `backend="local"` generates `workers` chunks side by side in threads (default: one per core
    on a CPU, one on a GPU; a generator of your own must then be safe to call from threads, as
    the built-in ones are, or take `workers=1`); chunks are committed in order, so a kill
    redoes at most the chunks in flight. `backend="ray"` spreads chunks over Ray workers (one
    per GPU, else per CPU) of the cluster at `address` (default: a local one of `workers`
    CPUs); `remote=(name, weights, guidance)` lets each worker load the generator itself
    (`get_generator`) instead of receiving `generator`, which must be what those arguments
    make. All images of the pending prompts are loaded up front on that path.
    """
    check_backend(backend, address)
    if n < 1:
        raise ValueError("n must be at least 1")
    if cond_dtype not in COND_DTYPES:
        raise ValueError(f"cond_dtype must be one of {COND_DTYPES}, got {cond_dtype!r}")
    if len({p.prompt_id for p in prompts}) != len(prompts):
        raise ValueError("prompt ids must be unique")
    start = time.perf_counter()
    store = SampleStore.open(store_path, create=True)
    with store, store.writer_lock("generate"):
        expected = _expected_meta(generator, prompts, n, seed, cond_dtype)
        prompts = _open_or_init(store, expected, prompts)
        _remove_temporaries(store)
        retried = store.forget_failed_prompts() if retry_failed else 0
        done = store.done_prompt_ids()
        pending = [i for i, p in enumerate(prompts) if p.prompt_id not in done]
        counts = {"prompts": len(prompts), "already_done": len(prompts) - len(pending),
                  **({"retried": retried} if retry_failed else {}),
                  "ok": 0, "empty": 0, "failed": 0}
        bar = _bar(len(pending) * n, progress, f"generate {generator.name}")
        opts = {"size": max(1, batch_size // n), "n": n, "seed": seed, "batch_size": batch_size}
        if backend == "ray":
            source = ray_chunks(generator, prompts, pending, address=address, workers=workers,
                                remote=remote, **opts)
        else:
            source = local_chunks(generator, prompts, pending,
                                  workers=workers or default_local_workers(generator), **opts)
        try:
            for chunk in source:
                rows = _commit(store, prompts, chunk, n=n, seed=seed, cond_dtype=cond_dtype)
                for r in rows:
                    counts[r["status"]] += 1
                bar.set_postfix(ok=counts["ok"], empty=counts["empty"],
                                failed=counts["failed"], refresh=False)
                bar.update(len(rows))
        finally:  # on an interrupt too: stop the workers, and close the bar before the
            source.close()  # CLI's message (an open bar is drawn again after it)
            bar.close()
        _sweep_orphans(store)
        export_manifest(store)
    return Summary("generate", counts, time.perf_counter() - start)


def _bar(total: int, progress: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not progress, desc=desc, unit="sample")


def _commit(store: SampleStore, prompts: Sequence[Prompt], chunk: Chunk, *, n: int,
            seed: int, cond_dtype: str) -> list[dict]:
    """Write one chunk's shards and meshes, then insert its rows in one transaction."""
    pos = chunk.positions
    name = f"chunk-{pos[0]:07d}-{pos[-1]:07d}.safetensors"
    cond_rows = _write_conditions(store, name, chunk.conds, prompts, cond_dtype)
    rows = _write_samples(store, name, chunk.samples, prompts, chunk.failed, pos, n=n, seed=seed)
    digests = {prompts[p].prompt_id: prompts[p].image_digest() for p in chunk.conds}
    store.record_chunk(cond_rows, rows, image_sha1=digests)
    return rows


def _write_conditions(store: SampleStore, name: str, conds: dict, prompts: Sequence[Prompt],
                      cond_dtype: str) -> list[tuple[str, str | None, int | None]]:
    import torch

    order = sorted(conds)
    if order:
        stacked = torch.stack([conds[p].detach().float().cpu() for p in order])
        write_shard(store.root / "conditions" / name,
                    {"cond": stacked.to(getattr(torch, cond_dtype))})
    return [(prompts[p].prompt_id, f"conditions/{name}", i) for i, p in enumerate(order)]


def _write_samples(store: SampleStore, name: str, results: dict, prompts: Sequence[Prompt],
                   failed: dict, positions: list[int], *, n: int, seed: int) -> list[dict]:
    import numpy as np
    import torch

    from dso.geometry.grid import pack_occupancy

    order = sorted(results)
    if order:
        stacked = torch.stack([results[k].latent.detach().float().cpu() for k in order])
        tensors = {"latents": stacked}
        grids = [getattr(results[k], "occupancy", None) for k in order]
        if all(g is not None and g.shape == grids[0].shape and _is_grid_surface(results[k].mesh)
               for g, k in zip(grids, order, strict=True)):
            # the grids too, so `dso label` checks them without reading the mesh files
            tensors[OCCUPANCY] = torch.from_numpy(pack_occupancy(np.stack(grids)))
        write_shard(store.root / "latents" / name, tensors)
    index = {k: i for i, k in enumerate(order)}
    rows = []
    for pos in positions:
        for j in range(n):
            sid = pos * n + j
            row = {"sample_id": sid, "prompt_id": prompts[pos].prompt_id, "sample_index": j,
                   "seed": seed + sid}
            if pos in failed or (pos, j) not in results:
                row.update(status="failed", error=failed.get(pos, "no sample returned"))
            elif not bool(torch.isfinite(stacked[index[(pos, j)]]).all()):
                # never labelled nor trained on: one NaN would make every LoRA weight NaN
                row.update(status="failed", error="non-finite latent (NaN or inf): the "
                           "generator diverged on this sample")
            else:
                row.update(latent_shard=f"latents/{name}", latent_index=index[(pos, j)])
                row.update(_write_mesh(store.root, sid, results[(pos, j)]))
            rows.append(row)
    return rows


def _is_grid_surface(mesh) -> bool:
    """Whether `mesh` is its grid's own surface (`grid_to_mesh`), or there is none."""
    from dso.geometry.grid import GRID_SURFACE_KEY

    return mesh is None or bool(mesh.metadata.get(GRID_SURFACE_KEY))


def _write_mesh(root: Path, sample_id: int, sample) -> dict:
    mesh = sample.mesh
    if mesh is None:
        occupancy = getattr(sample, "occupancy", None)
        if occupancy is not None and bool(occupancy.any()):
            return {"status": "failed", "error": "no mesh from a non-empty occupancy grid"}
        return {"status": "empty"}
    rel = f"meshes/{sample_id}.ply"
    try:
        atomic_write_bytes(root / rel, mesh.export(file_type="ply"))
    except Exception as err:
        reraise_if_interrupted()
        return {"status": "failed", "error": f"mesh export: {type(err).__name__}: {err}"}
    return {"status": "ok", "mesh_path": rel}


def _remove_temporaries(store: SampleStore) -> None:
    """Delete the temporary files a killed run left (this run holds the generate lock); the
    dataset's root only while no `dso label` runs, which writes its manifest there."""
    subs = SUBDIRS + (() if store.writing("label") else ("",))
    for sub in subs:
        for f in (store.root / sub).glob(".*.tmp-*"):
            f.unlink(missing_ok=True)


def _sweep_orphans(store: SampleStore) -> None:
    """Delete shard and mesh files no row refers to (left by a chunk killed before commit)."""
    samples = store.samples()
    used = {r["latent_shard"] for r in samples} | {r["mesh_path"] for r in samples}
    used |= {p["cond_shard"] for p in store.prompts()}
    for sub in SUBDIRS:
        for f in (store.root / sub).iterdir():
            if f"{sub}/{f.name}" not in used:
                f.unlink(missing_ok=True)
