"""Where generated chunks come from: this process, or Ray workers (`dso.scale.ray_generate`).

Both yield `Chunk`s of prompt positions with their samples and conditions; the store side
(`generate.py`) writes and commits each one. Sample j of the prompt at position p always has
seed `seed + p * n + j`, whichever producer made it and however prompts were grouped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dso.data.prompts import Prompt
from dso.env import available_cores
from dso.interrupts import reraise_if_interrupted


@dataclass
class Chunk:
    """Generated prompts: samples keyed by (position, j), conditions by position, failures."""

    positions: list[int]
    samples: dict = field(default_factory=dict)
    conds: dict = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)


def consecutive(positions: Sequence[int], size: int) -> list[list[int]]:
    """Sorted positions cut into runs of consecutive integers, each of at most `size`."""
    out: list[list[int]] = []
    for pos in sorted(positions):
        if out and out[-1][-1] == pos - 1 and len(out[-1]) < size:
            out[-1].append(pos)
        else:
            out.append([pos])
    return out


def load_images(prompts: Sequence[Prompt], positions: Sequence[int]) -> tuple[dict, dict]:
    """Images keyed by position, and why the others could not be read."""
    images, failed = {}, {}
    for pos in positions:
        try:
            images[pos] = prompts[pos].load_image()
        except Exception as err:  # one unreadable image must not stop the chunk
            reraise_if_interrupted()
            failed[pos] = f"image: {type(err).__name__}: {err}"
    return images, failed


def default_local_workers(generator) -> int:
    """Generating threads for the local backend: one per core on a CPU (at most 8), else 1."""
    device = getattr(generator, "device", None)
    if device is not None and getattr(device, "type", str(device)) != "cpu":
        return 1
    return min(available_cores(), 8)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op thread count set to `count` for the block, then restored."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def local_chunks(generator, prompts: Sequence[Prompt], pending: Sequence[int], *, size: int,
                 n: int, seed: int, batch_size: int, workers: int = 1) -> Iterator[Chunk]:
    """Chunks of at most `size` consecutive pending prompts, generated in this process, in order.

    With `workers` > 1, that many threads generate chunks side by side, each with
    cores / workers torch threads (one on 2 cores). On a small CPU this beats one chunk at a
    time on all cores: a model this small spends much of a multi-threaded op waiting for the
    slowest thread (`benchmarks/generate.py`). Samples do not depend on the thread count.
    """
    groups = consecutive(pending, size)
    if workers <= 1 or len(groups) <= 1:
        for positions in groups:
            yield generate_chunk(generator, prompts, positions, n, seed, batch_size)
        return
    flow = getattr(generator, "flow", None)
    was_training = bool(getattr(flow, "training", False))
    if flow is not None:  # one mode for every thread (sample_latents toggles it per call)
        flow.eval()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="dso-generate")
    try:
        with torch_threads(max(1, available_cores() // workers)):
            running: deque[Future] = deque()
            for positions in groups:
                running.append(pool.submit(generate_chunk, generator, prompts, positions, n,
                                           seed, batch_size))
                if len(running) >= 2 * workers:  # bounded: a few chunks in memory
                    yield running.popleft().result()
            while running:
                yield running.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if flow is not None:
            flow.train(was_training)


def generate_chunk(generator, prompts: Sequence[Prompt], positions: list[int], n: int,
                   seed: int, batch_size: int) -> Chunk:
    """One chunk: its images loaded, its prompts sampled; a prompt that fails fails alone."""
    images, failed = load_images(prompts, positions)
    chunk = Chunk(positions, failed=failed)
    for run in consecutive(sorted(images), len(positions)):
        try:
            _sample_run(generator, images, run, n, seed, batch_size, chunk)
        except Exception:  # retry prompt by prompt so one bad prompt fails alone
            reraise_if_interrupted()
            for pos in run:
                try:
                    _sample_run(generator, images, [pos], n, seed, batch_size, chunk)
                except Exception as err:
                    reraise_if_interrupted()
                    chunk.failed[pos] = f"generate: {type(err).__name__}: {err}"
    return chunk


def _sample_run(generator, images: dict, run: list[int], n: int, seed: int, batch_size: int,
                chunk: Chunk) -> None:
    imgs = [images[p] for p in run]
    cond = generator.condition(imgs)
    out = generator.generate(imgs, n=n, seed=seed + run[0] * n, batch_size=batch_size)
    got = {(run[s.prompt_index], s.sample_index): s for s in out}
    if set(got) != {(p, j) for p in run for j in range(n)}:
        raise RuntimeError(f"generator returned {len(got)} samples, expected {len(run) * n}")
    chunk.samples.update(got)
    chunk.conds.update({p: cond[i] for i, p in enumerate(run)})


def ray_chunks(generator, prompts: Sequence[Prompt], pending: Sequence[int], *, size: int,
               n: int, seed: int, batch_size: int, address: str | None, workers: int | None,
               remote: tuple[str, str | Path | None, float | None] | None = None,
               ) -> Iterator[Chunk]:
    """The chunks `local_chunks` makes, generated by Ray workers, yielded as they finish.

    The same chunks, split into the same runs around prompts whose image cannot be read
    (`generate_chunk`): a run is one batch of the model, so its rounding, and so the latents,
    are those of a local run. A chunk's runs may go to several workers; it is yielded once all
    have come back. `remote=(name, weights, guidance)` makes each worker load the generator
    itself with `get_generator` (weights must exist on its node); otherwise the generator
    object is shipped to the workers.
    """
    from dso.scale.ray_generate import ray_generate  # the package attribute is the module

    images, failed = load_images(prompts, pending)
    groups = consecutive(pending, size)
    chunks = [Chunk(group, failed={p: failed[p] for p in group if p in failed})
              for group in groups]
    runs = [run for group in groups
            for run in consecutive([p for p in group if p in images], len(group))]
    chunk_of = {p: k for k, group in enumerate(groups) for p in group}
    waiting = [0] * len(groups)
    for run in runs:
        waiting[chunk_of[run[0]]] += 1
    yield from (chunk for chunk, left in zip(chunks, waiting, strict=True) if not left)
    if not runs:
        return
    good = [p for run in runs for p in run]
    name, weights, guidance = remote if remote is not None else (generator, None, None)
    for gc in ray_generate([images[p] for p in good], generator=name, weights=weights,
                           guidance=guidance, n=n, seed=seed, positions=good, runs=runs,
                           batch_size=batch_size, address=address, workers=workers,
                           progress=False):
        k = chunk_of[gc.positions[0]]
        _add_run(chunks[k], gc, generator, images)
        waiting[k] -= 1
        if not waiting[k]:
            yield chunks[k]


def _add_run(chunk: Chunk, gc, generator, images: dict) -> None:
    """Put one worker's run (`dso.scale.ray_generate.GenChunk`) into its chunk."""
    chunk.failed.update(gc.errors)
    chunk.samples.update({(s.prompt_index, s.sample_index): s for s in gc.samples})
    made = [p for p in gc.positions if p not in gc.errors]
    if gc.cond is not None:
        chunk.conds.update({p: gc.cond[i] for i, p in enumerate(gc.positions)})
    elif made:  # conditions are cheap: recompute those the workers did not send
        cond = generator.condition([images[p] for p in made])
        chunk.conds.update({p: cond[i] for i, p in enumerate(made)})
