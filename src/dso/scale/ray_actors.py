"""`ray_actor_map`: stateful fan-out, one long-lived Ray actor per GPU (or CPU) worker.

For work that needs something expensive loaded once per worker (a generator's weights):
each actor builds its state with `setup(device)` once, then runs `fn(state, payload)` for the
payloads it is handed. At most two payloads wait per actor; results are yielded as they land,
so the caller can write each one to disk at once (a resumable run). A payload whose call raises
or whose actor dies yields an `ItemFailure`; a dead actor is restarted by Ray.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tqdm.auto import tqdm

from dso.scale.ray_map import ItemFailure, _last_line
from dso.scale.ray_session import SINGLE_THREAD_ENV, cluster_cpus, cluster_gpus, ray_session


class _Worker:
    """Actor body: holds `setup(device)`'s result and applies functions to payloads."""

    def __init__(self, setup: Callable[[str], Any], threads: int) -> None:
        import ray
        import torch

        torch.set_num_threads(max(1, threads))
        self.device = "cuda" if ray.get_gpu_ids() else "cpu"
        self.state = setup(self.device)

    def ready(self) -> str:
        return self.device

    def run(self, fn: Callable[[Any, Any], Any], payload: Any) -> tuple[bool, Any]:
        try:
            return True, fn(self.state, payload)
        except Exception as err:  # noqa: BLE001 - one payload's failure stays its own
            return False, f"{type(err).__name__}: {err}"


def _start_actors(ray: Any, setup: Callable[[str], Any], workers: int | None,
                  gpus_per_worker: float | None, cpus_per_worker: int) -> list[Any]:
    gpus = cluster_gpus(ray)
    per_gpu = gpus_per_worker if gpus_per_worker is not None else (1.0 if gpus else 0.0)
    if per_gpu and not gpus:
        raise RuntimeError("gpus_per_worker was set but the Ray cluster has no GPU")
    count = workers or (int(gpus // per_gpu) if per_gpu else cluster_cpus(ray) // cpus_per_worker)
    env = dict(SINGLE_THREAD_ENV, OMP_NUM_THREADS=str(cpus_per_worker))
    actor_cls = ray.remote(_Worker).options(
        num_cpus=cpus_per_worker, num_gpus=per_gpu, max_restarts=3, max_task_retries=0,
        runtime_env={"env_vars": env})
    actors = [actor_cls.remote(setup, cpus_per_worker) for _ in range(max(1, count))]
    try:
        ray.get([a.ready.remote() for a in actors])
    except ray.exceptions.RayError as err:
        raise RuntimeError(f"worker setup failed: {_last_line(err)}") from err
    return actors


def ray_actor_map(
    setup: Callable[[str], Any],
    fn: Callable[[Any, Any], Any],
    payloads: Sequence[Any],
    *,
    address: str | None = None,
    workers: int | None = None,
    gpus_per_worker: float | None = None,
    cpus_per_worker: int = 1,
    progress: bool = True,
    desc: str = "ray actors",
    weights: Sequence[int] | None = None,
) -> Iterator[tuple[int, Any]]:
    """Yield `(i, fn(state, payloads[i]))` in completion order (`ItemFailure` on failure).

    `setup(device)` runs once per actor ("cuda" when Ray gave it a GPU, else "cpu"); its
    failure raises RuntimeError before any payload runs. Actors take one GPU each when the
    cluster has GPUs (`gpus_per_worker` overrides), else `cpus_per_worker` CPUs; `workers`
    defaults to as many as fit. `weights[i]` counts payload i on the progress bar (default 1).
    """
    if not payloads:
        return
    counts = list(weights) if weights is not None else [1] * len(payloads)
    with ray_session(address, workers) as ray:
        actors = _start_actors(ray, setup, workers, gpus_per_worker, cpus_per_worker)
        fn_ref = ray.put(fn)
        idle = deque(a for a in actors for _ in range(2))
        todo = deque(range(len(payloads)))
        in_flight: dict[Any, tuple[int, Any]] = {}
        with tqdm(total=sum(counts), desc=desc, disable=not progress) as bar:
            while todo or in_flight:
                while todo and idle:
                    i, actor = todo.popleft(), idle.popleft()
                    in_flight[actor.run.remote(fn_ref, payloads[i])] = (i, actor)
                done, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in done:
                    i, actor = in_flight.pop(ref)
                    idle.append(actor)
                    bar.update(counts[i])
                    yield i, _outcome(ray, ref, i)
        for actor in actors:
            ray.kill(actor)


def _outcome(ray: Any, ref: Any, index: int) -> Any:
    try:
        ok, value = ray.get(ref)
    except ray.exceptions.RayError as err:
        return ItemFailure(index, f"worker failed: {type(err).__name__}: {_last_line(err)}")
    return value if ok else ItemFailure(index, value)
