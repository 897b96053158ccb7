"""`ray_map`: apply a function to many items on a Ray cluster, in chunks, in order.

- Items go out in chunks (one remote task each, `num_cpus=1` by default); at most `workers`
  chunks run at once (2 per CPU queued when `workers` is not given), so a huge input never
  floods the object store.
- An exception on one item becomes that item's failure; the rest of the chunk goes on.
- A chunk whose worker dies (segfault, out of memory) is split and its items are retried one
  by one, so only the item that kills a worker fails.
- Results come back in input order; `on_result(index, value)` sees each one as its chunk lands
  (write results to disk there to make a long run resumable); a tqdm bar counts items.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm

from dso.scale.ray_session import SINGLE_THREAD_ENV, cluster_cpus, cluster_gpus, ray_session


@dataclass(frozen=True)
class ItemFailure:
    """Placeholder result for an item whose call raised or whose worker died."""

    index: int
    error: str


def default_chunk_size(n_items: int, workers: int, per_worker: int = 4, cap: int = 64) -> int:
    """About `per_worker` chunks per worker (good balance), at most `cap` items per chunk."""
    if n_items <= 0:
        return 1
    return max(1, min(cap, math.ceil(n_items / (per_worker * max(1, workers)))))


def split_chunks(n_items: int, chunk_size: int) -> list[list[int]]:
    """Consecutive index chunks covering range(n_items)."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return [list(range(i, min(i + chunk_size, n_items))) for i in range(0, n_items, chunk_size)]


def run_chunk(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[tuple[bool, Any]]:
    """Worker side: apply `fn` to each item; an exception is caught per item."""
    for key, value in SINGLE_THREAD_ENV.items():
        os.environ.setdefault(key, value)
    _single_thread_torch()
    out: list[tuple[bool, Any]] = []
    for item in items:
        try:
            out.append((True, fn(item)))
        except Exception as err:  # noqa: BLE001 - isolate every item's failure
            out.append((False, f"{type(err).__name__}: {err}"))
    return out


def _single_thread_torch() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def default_slots(ray: Any, num_cpus: float = 1, num_gpus: float = 0) -> int:
    """How many tasks of this size the connected cluster runs at once."""
    if num_gpus:
        return max(1, int(cluster_gpus(ray) // num_gpus))
    return max(1, int(cluster_cpus(ray) // max(num_cpus, 1e-9)))


def dispatch(
    ray: Any,
    submit: Callable[[list[int]], Any],
    chunks: list[list[int]],
    max_in_flight: int,
) -> Iterator[tuple[list[int], Any, BaseException | None]]:
    """Submit chunks with bounded concurrency; yield (chunk, result, error) as each lands."""
    pending = deque(chunks)
    in_flight: dict[Any, list[int]] = {}
    while pending or in_flight:
        while pending and len(in_flight) < max_in_flight:
            chunk = pending.popleft()
            in_flight[submit(chunk)] = chunk
        done, _ = ray.wait(list(in_flight), num_returns=1)
        for ref in done:
            chunk = in_flight.pop(ref)
            try:
                yield chunk, ray.get(ref), None
            except ray.exceptions.RayError as err:
                yield chunk, None, err


def ray_map(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    *,
    address: str | None = None,
    workers: int | None = None,
    chunk_size: int | None = None,
    num_cpus: float = 1,
    num_gpus: float = 0,
    progress: bool = True,
    desc: str = "ray",
    on_result: Callable[[int, Any], None] | None = None,
    on_error: Callable[[int, Any, str], Any] | None = None,
) -> list[Any]:
    """`[fn(x) for x in items]` on Ray, in order; failed items get `on_error(i, item, msg)`.

    `fn` must be importable (or picklable by value) on the workers. Without `address` a local
    loopback cluster with `workers` CPUs is started and shut down; an existing connection
    (`ray.is_initialized()`) is reused. `on_error` defaults to `ItemFailure(i, msg)`.
    """
    items = list(items)
    if not items:
        return []
    make_error = on_error or (lambda i, _item, msg: ItemFailure(i, msg))
    results: list[Any] = [None] * len(items)
    with ray_session(address, workers) as ray:
        slots = workers or default_slots(ray, num_cpus, num_gpus)
        # `workers` caps concurrency exactly; otherwise queue 2 per slot (Ray caps at capacity)
        in_flight = slots if workers else 2 * slots
        size = chunk_size or default_chunk_size(len(items), slots)
        task = ray.remote(run_chunk).options(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=0)
        fn_ref = ray.put(fn)

        def submit(chunk: list[int]) -> Any:
            return task.remote(fn_ref, [items[i] for i in chunk])

        def record(i: int, ok: bool, value: Any) -> None:
            results[i] = value if ok else make_error(i, items[i], value)
            if on_result is not None:
                on_result(i, results[i])

        chunks = split_chunks(len(items), size)
        with tqdm(total=len(items), desc=desc, disable=not progress, unit="item") as bar:
            _collect(ray, submit, chunks, in_flight, record, bar)
    return results


def _collect(
    ray: Any,
    submit: Callable[[list[int]], Any],
    chunks: list[list[int]],
    max_in_flight: int,
    record: Callable[[int, bool, Any], None],
    bar: tqdm,
) -> None:
    """Drive `dispatch`; a chunk lost to a dead worker is retried item by item, once."""
    retry: list[list[int]] = []
    for chunk, outs, err in dispatch(ray, submit, chunks, max_in_flight):
        if err is None:
            for i, (ok, value) in zip(chunk, outs, strict=True):
                record(i, ok, value)
            bar.update(len(chunk))
        elif len(chunk) > 1:
            retry.extend([i] for i in chunk)
        else:
            record(chunk[0], False, f"worker failed: {type(err).__name__}: {_last_line(err)}")
            bar.update(1)
    if retry:
        _collect(ray, submit, retry, max_in_flight, record, bar)


def _last_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[-1] if text else repr(err)


map_items = ray_map  # the name docs/architecture.md gives the Ray executor
