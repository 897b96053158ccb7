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
