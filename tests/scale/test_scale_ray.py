"""A real local Ray cluster on loopback (2 workers), shared by every test of this module."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import trimesh

ray = pytest.importorskip("ray")

from dso.scale.ray_map import ItemFailure, ray_map  # noqa: E402
from dso.scale.ray_session import node_addresses, start_local  # noqa: E402

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers can't import tests/


@pytest.fixture(scope="module")
def cluster():
    """One 2-CPU loopback cluster for the module (start-up is the slow part)."""
    if ray.is_initialized():
        ray.shutdown()
    start_local(workers=2)
    yield ray
    ray.shutdown()


def prism(shear: float, height: float = 1.0) -> trimesh.Trimesh:
    """Box whose top is shifted by `shear * height` in x (falls when shear is large)."""
    box = trimesh.creation.box(extents=(0.4, 0.4, height))
    v = box.vertices.copy()
    v[:, 0] += shear * (v[:, 2] + height / 2)
    return trimesh.Trimesh(v, box.faces, process=False)


def blob(res: int = 24) -> trimesh.Trimesh:
    """A marching-cubes mushroom: wide cap on a thin stem (a generator-like mesh)."""
    from dso.geometry import grid_to_mesh

    c = (np.arange(res) + 0.5) / res - 0.5
    x, y, z = np.meshgrid(c, c, c, indexing="ij")
    stem = (x**2 + y**2 < 0.08**2) & (z < 0.1)
    cap = (x**2 + y**2 + (z - 0.1) ** 2 < 0.35**2) & (z >= 0.1)
    foot = (x**2 + y**2 < 0.25**2) & (z < -0.4)
    return grid_to_mesh(stem | cap | foot)


@pytest.fixture(scope="module")
def meshes(tmp_path_factory):
    """Files and in-memory arrays, stable and falling, plus two broken inputs."""
    root = tmp_path_factory.mktemp("meshes")
    files = {"box.ply": trimesh.creation.box((0.5, 0.5, 1.0)), "lean.ply": prism(1.6),
             "cyl.obj": trimesh.creation.cylinder(0.3, 0.8), "blob.ply": blob()}
    for name, mesh in files.items():
        mesh.export(root / name)
    (root / "junk.ply").write_text("this is not a mesh\n")
    cone, lean = trimesh.creation.cone(0.4, 0.8), prism(2.0, 1.5)
    return [str(root / n) for n in files] + [
        (cone.vertices, cone.faces), (lean.vertices, lean.faces), str(root / "missing.obj"),
        str(root / "junk.ply"), (np.asarray(prism(0.2).vertices), np.asarray(prism(0.2).faces)),
    ]


def test_cluster_is_loopback_only_with_one_thread_per_worker(cluster):
    assert set(node_addresses(cluster)) == {"127.0.0.1"}
    assert cluster.cluster_resources()["CPU"] == 2
    env = ray_map(_thread_env, list(range(4)), chunk_size=1, progress=False)
    assert {e["OMP_NUM_THREADS"] for e in env} == {"1"}
    assert {e["torch_threads"] for e in env} <= {1, None}


def _thread_env(_):
    torch = sys.modules.get("torch")
    return {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "torch_threads": torch.get_num_threads() if torch else None}


def test_ray_labels_identical_to_local_backend(cluster, meshes):
    from dso.physics import check_many
    from dso.scale import ray_check_many

    local = check_many(meshes, workers=2, progress=False)
    seen = []
    remote = ray_check_many(meshes, chunk_size=3, progress=False,
                            on_result=lambda i, r: seen.append(i))
    assert sorted(seen) == list(range(len(meshes)))
    assert len(remote) == len(local) == len(meshes)
    for a, b in zip(local, remote, strict=True):
        assert (a.path, a.status, a.stable, a.error_kind, a.mass_source) == \
            (b.path, b.status, b.stable, b.error_kind, b.mass_source)
        if a.status == "ok":
            assert math.isclose(a.tilt_deg, b.tilt_deg, abs_tol=1e-6)
            assert math.isclose(a.dso_angle_deg, b.dso_angle_deg, abs_tol=1e-6)
    verdicts = [r.stable for r in remote if r.status == "ok"]
    assert True in verdicts and False in verdicts  # the set can tell a wrong answer
    assert [r.status for r in remote].count("error") == 2  # missing + junk, the rest went on


def test_ray_check_many_validates_settings_before_starting(cluster):
    from dso.scale import ray_check_many

    with pytest.raises(ValueError, match="preset"):
        ray_check_many(["x.obj"], preset="nope", progress=False)


def _flaky(x):
    if x == 3:
        raise ValueError("bad three")
    if x == 5:
        os._exit(1)  # the worker process dies mid-chunk
    return x * x


def test_failures_are_isolated_per_item(cluster):
    out = ray_map(_flaky, list(range(8)), chunk_size=4, progress=False)
    assert [out[i] for i in (0, 1, 2, 4, 6, 7)] == [0, 1, 4, 16, 36, 49]
    assert out[3] == ItemFailure(3, "ValueError: bad three")
    assert isinstance(out[5], ItemFailure) and "worker failed" in out[5].error


def test_second_driver_connects_by_address(cluster, meshes):
    """`address=` path: a fresh process joins this loopback cluster and labels two meshes."""
    address = cluster.get_runtime_context().gcs_address
    assert address.startswith("127.0.0.1:")
    code = ("import json, sys; from dso.scale import ray_check_many; "
            "r = ray_check_many(json.loads(sys.argv[1]), address=sys.argv[2], progress=False); "
            "print(json.dumps([x.to_dict() for x in r]))")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(meshes[:2]), address],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [g["stable"] for g in got] == [True, False]


def test_a_cluster_that_wants_a_token_is_named_in_the_error(cluster):
    """A driver without RAY_AUTH_MODE=token is refused by a token cluster (Ray's default):
    the error says how to pass the token (Ray retries for about 20 s first)."""
    address = cluster.get_runtime_context().gcs_address
    code = "import sys; from dso.scale.ray_session import connect; connect(sys.argv[1])"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    proc = subprocess.run([sys.executable, "-c", code, address], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ConnectionError: Failed to connect to Ray cluster at {address}: "
                           "the cluster requires Ray's token authentication: export "
                           "RAY_AUTH_MODE=token"), proc.stderr[-2000:]


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """A dso-tiny-format folder with small random models (as the models tests build it)."""
    from tests.models.tiny_weights import FLOW, random_tiny_weights

    return random_tiny_weights(tmp_path_factory.mktemp("tiny"),
                               flow_args={**FLOW, "qk_rms_norm": False})


def test_ray_generate_matches_local_generate(cluster, tiny_weights):
    """Prompts split over 2 workers give the samples of one local call (seeds by position)."""
    import torch

    from dso.models import get_generator
    from dso.scale import ray_generate

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (16, 16, 3), dtype=np.uint8) for _ in range(5)]
    local = get_generator("dso-tiny", tiny_weights).generate(images, n=2, seed=11)
    # positions 1..4 only (as a resumed run that finished prompt 0), over 2 workers
    chunks = list(ray_generate(images[1:], generator="dso-tiny", weights=tiny_weights, n=2,
                               seed=11, positions=[1, 2, 3, 4], prompts_per_task=2,
                               workers=2, progress=False))
    assert sorted(p for c in chunks for p in c.positions) == [1, 2, 3, 4]
    assert all(not c.errors and c.cond.shape[0] == len(c.positions) for c in chunks)
    remote = sorted((s for c in chunks for s in c.samples),
                    key=lambda s: (s.prompt_index, s.sample_index))
    assert len(remote) == 8
    for a, b in zip(local[2:], remote, strict=True):
        assert (a.prompt_index, a.sample_index, a.seed) == (b.prompt_index, b.sample_index, b.seed)
        torch.testing.assert_close(a.latent, b.latent, rtol=1e-5, atol=1e-5)
        assert np.array_equal(a.occupancy, b.occupancy)
    assert len({s.latent.sum().item() for s in remote}) == 8  # every sample is its own


@pytest.mark.parametrize("runs", [[[1], [1, 2]], [[1, 3], [2]], [[1, 2]], [[1], [], [2, 3]]])
def test_ray_generate_refuses_runs_that_do_not_split_the_positions(runs):
    from dso.scale import ray_generate

    images = [np.zeros((16, 16, 3), np.uint8)] * 3
    with pytest.raises(ValueError, match="runs must be runs of consecutive positions"):
        next(ray_generate(images, positions=[1, 2, 3], runs=runs, progress=False))


def test_ray_generate_reports_bad_weights_up_front(cluster, tmp_path):
    from dso.scale import ray_generate

    with pytest.raises(RuntimeError, match="setup failed"):
        list(ray_generate([np.zeros((16, 16, 3), np.uint8)], generator="dso-tiny",
                          weights=tmp_path, workers=1, progress=False))


def test_an_address_where_nothing_listens_is_refused_at_once():
    import socket
    import time

    from dso.scale.ray_session import check_reachable

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    began = time.perf_counter()
    with pytest.raises(ValueError, match=f"cannot reach a Ray cluster at 127.0.0.1:{port}"):
        check_reachable(f"127.0.0.1:{port}")
    assert time.perf_counter() - began < 5.0
    check_reachable("auto")  # not host:port: left to Ray
