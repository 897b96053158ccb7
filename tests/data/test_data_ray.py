"""The Ray backends give what the local ones give (one loopback cluster for the module)."""

import shutil

import pytest
from typer.testing import CliRunner

from dso.cli import app
from dso.data import SampleStore, generate_dataset, label_dataset
from tests.data.data_real import make_pieces
from tests.data.data_snapshot import assert_same, snapshot
from tests.data.data_toy_generator import GridToyGenerator, ToyGenerator, toy_prompts

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def cluster():
    pytest.importorskip("ray")
    from dso.scale.ray_session import ray_session

    with ray_session(workers=2) as ray:
        yield ray


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    ds = tmp_path_factory.mktemp("gen") / "ds"
    generate_dataset(ds, ToyGenerator(), toy_prompts(10), n=4, seed=0, progress=False)
    return ds


def _labels(ds):
    with SampleStore.open(ds) as store:
        return {r["sample_id"]: r for r in store.records() if r["label_status"] is not None}


def _invoke(*args) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_ray_backend_gives_the_local_labels(generated, tmp_path):
    local, remote = tmp_path / "local", tmp_path / "ray"
    shutil.copytree(generated, local)
    shutil.copytree(generated, remote)
    label_dataset(local, workers=1, progress=False)
    summary = label_dataset(remote, backend="ray", workers=2, chunk_size=8, progress=False)
    assert summary.counts["stable"] + summary.counts["unstable"] == summary.counts["to_label"]
    keys = ("label_status", "stable", "tilt_deg", "mass_source", "attempts")
    want = {sid: [r[k] for k in keys] for sid, r in _labels(local).items()}
    assert {sid: [r[k] for k in keys] for sid, r in _labels(remote).items()} == want


def test_ray_backend_labels_stored_grids_as_the_local_one_does(tmp_path):
    ds = tmp_path / "grids"
    generate_dataset(ds, GridToyGenerator(), toy_prompts(6), n=3, seed=0, progress=False)
    label_dataset(ds, workers=1, progress=False)
    local = _labels(ds)
    for mesh in (ds / "meshes").glob("*.ply"):
        mesh.unlink()  # the Ray workers must check the grids, not the files
    summary = label_dataset(ds, backend="ray", workers=2, chunk_size=4, relabel=True,
                            progress=False)
    assert summary.counts["errors"] == 0
    keys = ("label_status", "stable", "tilt_deg", "pieces")
    assert {sid: [r[k] for k in keys] for sid, r in _labels(ds).items()} == {
        sid: [r[k] for k in keys] for sid, r in local.items()}


@pytest.mark.parametrize("guidance", [[], ["--guidance", 3]])
def test_ray_generation_matches_local(tmp_path, guidance):
    # the workers load the generator by name, with the sampler the command asked for
    pieces = make_pieces(tmp_path / "pieces")
    args = ["--weights", pieces["weights"], "--world", pieces["world"], "--n", 2, "--seed", 9,
            "--batch-size", 2, "--quiet", *guidance]
    _invoke("generate", *args, "--out", tmp_path / "local")
    out = _invoke("generate", *args, "--out", tmp_path / "ray", "--backend", "ray",
                  "--workers", 1)
    assert "prompts 6" in out
    assert_same(snapshot(tmp_path / "ray"), snapshot(tmp_path / "local"))
    with SampleStore.open(tmp_path / "ray") as store:
        sampler = store.meta()["sampler"]
    assert (sampler["guidance"] == 3.0) == bool(guidance)


def _unreadable():
    raise OSError("unreadable image")


def test_ray_generation_matches_local_when_an_image_cannot_be_read(tmp_path):
    # 7 prompts, 4 per chunk (batch 16, n 4), prompt 2 unreadable: locally the chunks are
    # [0-3] (sampled as runs [0, 1] and [3]) and [4-6]; Ray must sample the same runs, as one
    # batch of 4 rows is not rounded as one of 16
    import numpy as np

    from dso.data.prompts import Prompt
    from dso.models import get_generator
    from tests.models.tiny_weights import random_tiny_weights

    weights = random_tiny_weights(tmp_path / "w", 0)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (16, 16, 3), dtype=np.uint8) for _ in range(7)]
    prompts = [Prompt(f"p{i}", f"o{i}", family="toy", split="train", view=0,
                      loader=_unreadable if i == 2 else (lambda img=img: img))
               for i, img in enumerate(images)]
    gen = get_generator("dso-tiny", weights=weights)
    opts = dict(n=4, seed=0, batch_size=16, progress=False)
    generate_dataset(tmp_path / "local", gen, prompts, workers=1, **opts)
    summary = generate_dataset(tmp_path / "ray", gen, prompts, backend="ray", workers=2,
                               remote=("dso-tiny", str(weights), None), **opts)
    assert summary.counts["failed"] == 4, summary.counts
    assert summary.counts["ok"] + summary.counts["empty"] == 24
    assert_same(snapshot(tmp_path / "ray"), snapshot(tmp_path / "local"))
    shards = {}
    for name in ("local", "ray"):
        with SampleStore.open(tmp_path / name) as store:
            shards[name] = ([(s["latent_shard"], s["latent_index"]) for s in store.samples()],
                            [p["cond_shard"] for p in store.prompts()])
    assert shards["ray"] == shards["local"]
    assert "conditions/chunk-0000000-0000003.safetensors" in shards["local"][1]
