"""The data room with the real pieces: a world, a dso-tiny-format generator, the oracle, the CLI."""

import json
import re

import pytest
from typer.testing import CliRunner

from dso.cli import app
from dso.data import BatchSource, SampleStore, prompts_from_world
from dso.world import TRAIN_FAMILIES
from tests.data.data_real import make_pieces


@pytest.fixture(scope="module")
def pieces(tmp_path_factory):
    return make_pieces(tmp_path_factory.mktemp("real"))


def _invoke(*args) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_world_prompts(pieces):
    prompts = prompts_from_world(pieces["world"], "train", views=1, limit=2)
    assert len(prompts) == 2 and all(p.view == 0 for p in prompts)
    assert prompts[0].prompt_id.endswith("/v0") and prompts[0].family in TRAIN_FAMILIES[:2]
    img = prompts[0].load_image()
    assert img.dtype.name == "uint8" and img.ndim == 3 and img.shape[2] == 3


def test_generate_label_stats_from_the_cli(pieces):
    ds = pieces["root"] / "ds"
    out = _invoke("generate", "--generator", "dso-tiny", "--weights", pieces["weights"],
                  "--world", pieces["world"], "--split", "train", "--n", 2, "--out", ds,
                  "--seed", 3, "--batch-size", 4, "--quiet")
    assert "prompts 6" in out
    with SampleStore.open(ds) as store:
        samples = store.samples()
        meta = store.meta()
        assert len(samples) == 12 and [s["seed"] for s in samples] == list(range(3, 15))
        assert store.latents([0, 11]).shape == (2, 2, 4, 4, 4)
        assert store.conditions([samples[0]["prompt_id"]]).shape == (1, 4, 16)
    assert meta["generator"] == "dso-tiny" and meta["sampler"]["steps"] == 3
    assert len((ds / "manifest.jsonl").read_text().splitlines()) == 12
    out = _invoke("label", ds, "--workers", "1", "--quiet")
    counts = dict((k, int(v)) for k, v in re.findall(r"(\w+) (\d+)", out.split(":", 1)[1]))
    n_ok = sum(s["status"] == "ok" for s in samples)
    assert counts["to_label"] == n_ok
    assert counts["stable"] + counts["unstable"] + counts["errors"] == n_ok
    stats = json.loads(_invoke("data", "stats", ds, "--json"))
    assert stats["overall"]["samples"] == 12 and stats["overall"]["prompts"] == 6
    assert stats["overall"]["stable"] == counts["stable"]
    assert set(stats["families"]) == set(TRAIN_FAMILIES[:2])
    table = _invoke("data", "stats", ds)
    assert table.splitlines()[-1].split()[0].endswith("/v1")
    with SampleStore.open(ds) as store:
        rows = store.labelled()
        if any(r.stable for r in rows):
            batch = BatchSource(store, "sft", batch_size=3, seed=0, other_view=True).batch(0)
            assert batch.x0.shape == (3, 2, 4, 4, 4) and batch.cond.shape == (3, 4, 16)


def test_resume_refuses_another_generator_or_weights(pieces):
    ds = pieces["root"] / "ds2"
    args = ["--world", pieces["world"], "--n", 1, "--out", ds, "--limit", 1, "--quiet"]
    _invoke("generate", "--weights", pieces["weights"], *args)
    again = _invoke("generate", "--weights", pieces["weights"], *args)
    assert "already_done 2" in again
    result = CliRunner().invoke(app, [str(a) for a in ["generate", "--generator", "trellis",
                                                        *args]])
    assert result.exit_code == 2 and "generated with 'dso-tiny'" in result.output
    result = CliRunner().invoke(app, [str(a) for a in ["generate", "--weights",
                                                        pieces["other"], *args]])
    assert result.exit_code == 2 and "weights_fingerprint" in result.output


def test_images_and_clear_errors(pieces, tmp_path):
    views = sorted((pieces["world"] / "images").rglob("*.png"))[:3]
    ds = tmp_path / "imgs"
    _invoke("generate", "--weights", pieces["weights"], "--images", *views, "--n", 1,
            "--out", ds, "--quiet")  # PATH... : the extra paths follow the first
    with SampleStore.open(ds) as store:
        assert [p["image_path"] for p in store.prompts()] == [str(v.resolve()) for v in views]
    for args, msg in [
        (["generate", "--n", 1, "--out", ds], "exactly one prompt source"),
        (["generate", "--images", tmp_path / "nope.png", "--n", 1, "--out", ds], "not found"),
        (["label", tmp_path / "missing"], "no dataset"),
        (["label", ds, "--backend", "slurm"], "backend"),
        (["data", "stats", tmp_path / "missing"], "no dataset"),
    ]:
        result = CliRunner().invoke(app, [str(a) for a in args])
        assert result.exit_code == 2 and msg in result.output, result.output



def test_generate_guidance_is_stored_and_changes_the_samples(pieces):
    latents = {}
    for name, extra in (("default", []), ("g3", ["--guidance", 3])):
        ds = pieces["root"] / f"ds-guidance-{name}"
        _invoke("generate", "--weights", pieces["weights"], "--world", pieces["world"], "--n", 1,
                "--out", ds, "--limit", 1, "--quiet", *extra)
        with SampleStore.open(ds) as store:
            latents[name] = store.latents([0, 1])
            guidance = store.meta()["sampler"]["guidance"]
        assert (guidance == 3.0) == (name == "g3")
    assert not (latents["default"] == latents["g3"]).all()
    # a resumed dataset refuses another guidance, like other sampler settings
    result = CliRunner().invoke(app, [str(a) for a in [
        "generate", "--weights", pieces["weights"], "--world", pieces["world"], "--n", 1,
        "--out", pieces["root"] / "ds-guidance-g3", "--limit", 1, "--quiet"]])
    assert result.exit_code == 2, result.output
