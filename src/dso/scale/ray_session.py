"""Connect to a Ray cluster, or start a local one bound to loopback only.

`ray_session(address=None, workers=N)` is the one way `dso` gets Ray:
- already connected (`ray.is_initialized()`): reuse that connection and leave it open;
- `address` given: connect to that cluster (the user's), disconnect afterwards;
- neither: start a private local cluster with `workers` CPUs on 127.0.0.1 (no dashboard,
  no usage stats, nothing listening beyond loopback) and shut it down afterwards.

Every job `dso` starts gets one BLAS/OpenMP thread per worker (one task = one core).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from dso._optional import require

# One thread per worker: a task owns exactly the one CPU it reserved (no oversubscription).
SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}

# A local cluster stays on loopback and phones nobody: Ray on Linux otherwise picks the address
# it would use to reach the internet, and may report usage statistics.
_LOCAL_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # Ray's switch for "node ip = 127.0.0.1"
    "RAY_USAGE_STATS_ENABLED": "0",
}


def _ray() -> Any:
    return require("ray", "ray", "distributed labelling and generation")


@contextlib.contextmanager
def _patched_env(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration (children started inside inherit them)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _loopback() -> Iterator[Any]:
    """Import Ray with this node's address pinned to 127.0.0.1; undo the pin afterwards.

    Ray reads the switch at import time (env) and at init (module constant); processes Ray
    starts inside inherit the environment, so they stay on loopback too.
    """
    user_set = _LOCAL_ENV.keys() & os.environ.keys()
    with _patched_env(_LOCAL_ENV):
        ray = _ray()
        constants = sys.modules.get("ray._private.ray_constants")
        pinned = constants is not None and hasattr(constants, "ENABLE_RAY_CLUSTER")
        if pinned:
            constants.ENABLE_RAY_CLUSTER = False
        try:
            yield ray
        finally:
            if pinned and "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" not in user_set:
                constants.ENABLE_RAY_CLUSTER = not getattr(constants, "IS_WINDOWS_OR_OSX", False)


def resolve_workers(workers: int | None) -> int:
    """Number of worker processes for a local cluster (default: all cores)."""
    if workers is None:
        return max(1, os.cpu_count() or 1)
    if int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return int(workers)


def start_local(workers: int | None = None) -> None:
    """Start a local Ray cluster with `workers` CPUs, bound to 127.0.0.1, in this process."""
    with _loopback() as ray:
        ray.init(
            num_cpus=resolve_workers(workers),
            include_dashboard=False,
            log_to_driver=False,
            logging_level="warning",
            configure_logging=True,
            runtime_env={"env_vars": dict(SINGLE_THREAD_ENV)},
            _node_ip_address="127.0.0.1",
        )


def is_loopback(address: str) -> bool:
    """True for "127.x.y.z:port", "localhost:port", "[::1]:port" (and without a port)."""
    host = address.split("://")[-1]
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 or "]" in host else host
    host = host.strip("[]").lower()
    return host == "localhost" or host.startswith("127.") or host == "::1"


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """ValueError when nothing listens at a "host:port" (or "ray://host:port") address: Ray
    itself would retry for minutes without a word. Other forms ("auto") pass unchecked."""
    import socket

    host, sep, port = address.split("://")[-1].rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise ValueError(f"cannot reach a Ray cluster at {address} ({err}): check --address, "
                         "or start one there with `ray start --head`") from None


def connect(address: str) -> None:
    """Connect this process to an existing Ray cluster at `address` ("auto", "host:port", ...).

    A loopback address stays loopback (Ray would otherwise swap 127.0.0.1 for this machine's
    outward address and never find a cluster bound to loopback).
    """
    check_reachable(address)
    with _loopback() if is_loopback(address) else contextlib.nullcontext(_ray()) as ray:
        try:
            ray.init(
                address=address,
                log_to_driver=False,
                logging_level="warning",
                runtime_env={"env_vars": dict(SINGLE_THREAD_ENV)},
            )
        except ConnectionError as err:
            if not _refused_token(err):
                raise
            raise ConnectionError(f"{err}: {token_hint()}") from None


def _refused_token(err: BaseException) -> bool:
    """Whether the cluster turned this process away for a missing or wrong token (Ray puts
    the GCS's "InvalidAuthToken" in the error its ConnectionError is raised from)."""
    seen: BaseException | None = err
    while seen is not None:
        if "InvalidAuthToken" in str(seen) or "Unauthenticated" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def token_hint(environ: dict[str, str] | None = None) -> str:
    """What to do when a cluster refuses this process's token (Ray's token authentication,
    on by default for clusters started by recent Ray versions)."""
    env = os.environ if environ is None else environ
    if env.get("RAY_AUTH_MODE", "").lower() != "token":
        return ("the cluster requires Ray's token authentication: export RAY_AUTH_MODE=token "
                "(the token is read from ~/.ray/auth_token, RAY_AUTH_TOKEN_PATH or "
                "RAY_AUTH_TOKEN), or start the cluster with RAY_AUTH_MODE=disabled")
    return ("the cluster refused this token (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or "
            "~/.ray/auth_token): use the token of the cluster's head node")


@contextlib.contextmanager
def ray_session(address: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """Yield the `ray` module connected to a cluster; close what this call opened."""
    ray = _ray()
    if ray.is_initialized():
        yield ray
        return
    if address is None:
        start_local(workers)
    else:
        connect(address)
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_cpus(ray: Any) -> int:
    """CPUs the connected cluster offers (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def cluster_gpus(ray: Any) -> int:
    """GPUs the connected cluster offers (0 when none)."""
    return int(ray.cluster_resources().get("GPU", 0))


def node_addresses(ray: Any) -> list[str]:
    """Addresses of the live nodes (tests check these are loopback)."""
    return [n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive")]
