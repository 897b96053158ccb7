"""generate_dataset: rows, seeds, files, failures, resume checks and crash-resume."""

import shutil
import textwrap
from pathlib import Path

import pytest
import torch
import trimesh

from dso.data import DatasetError, SampleStore, generate_dataset
from dso.data.prompts import prompts_from_world
from dso.models import get_generator
from dso.world import TRAIN_FAMILIES, build_world
from tests.data.data_proc import run_and_kill
from tests.data.data_snapshot import assert_same, snapshot
from tests.data.data_toy_generator import ToyGenerator, toy_prompts

ROOT = Path(__file__).resolve().parents[2]  # the repository: `tests` is a package in it


def test_rows_seeds_files_and_manifest(tmp_path):
    prompts = toy_prompts(6)
    summary = generate_dataset(tmp_path / "ds", ToyGenerator(), prompts, n=3, seed=100,
                               batch_size=6, progress=False)
    assert summary.counts["ok"] + summary.counts["empty"] == 18
    assert summary.counts["empty"] > 0 and summary.counts["failed"] == 0
    with SampleStore.open(tmp_path / "ds") as store:
        samples = store.samples()
        assert [s["sample_id"] for s in samples] == list(range(18))
        assert all(s["seed"] == 100 + s["sample_id"] for s in samples)
        assert [s["prompt_id"] for s in samples[::3]] == [p.prompt_id for p in prompts]
        for s in samples:
            want = torch.randn((2, 2, 2, 2), generator=torch.Generator().manual_seed(s["seed"]))
            assert torch.equal(store.latents([s["sample_id"]])[0], want)
            if s["status"] == "ok":
                mesh = trimesh.load(tmp_path / "ds" / s["mesh_path"])
                assert mesh.is_watertight and len(mesh.faces) == 12
            else:
                assert s["mesh_path"] is None
        cond = ToyGenerator().condition([p.load_image() for p in prompts])
        assert torch.equal(store.conditions([p.prompt_id for p in prompts]), cond)
        meta = store.meta()
        assert meta["generator"] == "toy" and meta["n"] == 3 and meta["seed"] == 100
        assert meta["sampler"] == {"steps": 2, "guidance": 1.0}
    lines = (tmp_path / "ds" / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == 18 and '"seed": 100' in lines[0]


def test_bad_prompt_fails_alone(tmp_path):
    prompts = toy_prompts(4, bad=(1,))
    summary = generate_dataset(tmp_path / "ds", ToyGenerator(), prompts, n=2, seed=0,
                               batch_size=8, progress=False)
    assert summary.counts["failed"] == 2
    with SampleStore.open(tmp_path / "ds") as store:
        by_prompt = {}
        for s in store.samples():
            by_prompt.setdefault(s["prompt_id"], []).append(s)
        bad = by_prompt[prompts[1].prompt_id]
        assert [s["status"] for s in bad] == ["failed", "failed"]
        assert "cannot condition" in bad[0]["error"]
        for p in (prompts[0], prompts[2], prompts[3]):  # same chunk, still generated
            assert all(s["status"] in ("ok", "empty") for s in by_prompt[p.prompt_id])
        assert store.conditions([prompts[2].prompt_id]).shape == (1, 4, 3)


def test_failed_prompts_are_made_again_with_retry_failed(tmp_path):
    from typer.testing import CliRunner

    from dso.cli import app

    world = build_world(tmp_path / "world", n_train=2, n_eval=0, n_synthetic=0, n_val=0,
                        wild_per_family=0, families=TRAIN_FAMILIES[:2], train_views=1,
                        workers=1, progress=False).root
    n_prompts = len(prompts_from_world(world, "train"))
    assert n_prompts >= 2
    image = sorted((world / "images").rglob("*.png"))[0]
    moved = image.with_suffix(".away")
    image.rename(moved)  # a prompt whose image went missing: its samples fail
    args = ["generate", "--world", str(world), "--n", "2", "--out", str(tmp_path / "ds"),
            "--quiet", "--generator", "dso-tiny"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 1 and "rerun with --retry-failed" in first.output
    moved.rename(image)
    kept = CliRunner().invoke(app, args)  # failures are kept: a plain rerun does nothing
    assert kept.exit_code == 1 and f"already_done {n_prompts}," in kept.output
    again = CliRunner().invoke(app, [*args, "--retry-failed"])
    assert again.exit_code == 0, again.output
    assert "retried 1" in again.output and "failed 0" in again.output
    with SampleStore.open(tmp_path / "ds") as store:
        rows = store.samples()
    assert len(rows) == 2 * n_prompts and all(r["status"] in ("ok", "empty") for r in rows)
    assert [r["seed"] for r in rows] == list(range(2 * n_prompts))


def test_resuming_from_another_worlds_images_is_refused(tmp_path):
    worlds = [build_world(tmp_path / f"w{k}", n_train=1, n_eval=0, n_synthetic=0, n_val=0,
                          wild_per_family=0, families=TRAIN_FAMILIES[:1], train_views=1,
                          seed=k, workers=1, progress=False).root for k in (0, 1)]
    first, other = (prompts_from_world(w, "train") for w in worlds)
    assert [p.prompt_id for p in first] == [p.prompt_id for p in other]  # the same ids
    generate_dataset(tmp_path / "ds", ToyGenerator(), first, n=1, progress=False)
    with pytest.raises(DatasetError, match="other image files"):
        generate_dataset(tmp_path / "ds", ToyGenerator(), other, n=1, progress=False)
    again = generate_dataset(tmp_path / "ds", ToyGenerator(), first, n=1, progress=False)
    assert again.counts["already_done"] == len(first)


def test_resuming_after_the_world_was_rebuilt_in_place_is_refused(tmp_path):
    def world(seed):
        return build_world(tmp_path / "w", n_train=2, n_eval=0, n_synthetic=0, n_val=0,
                           wild_per_family=0, families=TRAIN_FAMILIES[:1], train_views=1,
                           seed=seed, workers=1, progress=False).root

    first = prompts_from_world(world(0), "train")
    generate_dataset(tmp_path / "ds", ToyGenerator(), first[:1], n=1, progress=False)
    with SampleStore.open(tmp_path / "ds") as store:
        (row,) = store.prompts()
    assert row["image_sha1"] == first[0].image_digest() is not None
    again = generate_dataset(tmp_path / "ds", ToyGenerator(), first, n=1, progress=False)
    assert again.counts["already_done"] == 1 and again.counts["ok"] == 1  # it grows
    shutil.rmtree(tmp_path / "w")
    rebuilt = prompts_from_world(world(1), "train")  # the same paths, other pictures
    assert [p.image_path for p in rebuilt] == [p.image_path for p in first]
    with pytest.raises(DatasetError, match="image files of 2 of .* changed since they were"):
        generate_dataset(tmp_path / "ds", ToyGenerator(), rebuilt, n=1, progress=False)
    with SampleStore.open(tmp_path / "ds") as store:  # a dataset of schema 2 has no digests
        store.conn.execute("UPDATE prompts SET image_sha1 = NULL")
    old = generate_dataset(tmp_path / "ds", ToyGenerator(), rebuilt, n=1, progress=False)
    assert old.counts["already_done"] == 2


class NaNGenerator(ToyGenerator):
    """The toy generator, diverging on sample 1 of each prompt (one NaN in its latent)."""

    def _one(self, img, i, j, seed):
        sample = super()._one(img, i, j, seed)
        if j == 1:
            sample.latent[0, 0, 0, 0] = float("nan")
        return sample


def test_a_non_finite_latent_is_a_failed_sample(tmp_path):
    summary = generate_dataset(tmp_path / "ds", NaNGenerator(), toy_prompts(3), n=2, seed=0,
                               progress=False)
    assert summary.counts["failed"] == 3
    with SampleStore.open(tmp_path / "ds") as store:
        rows = store.samples()
        assert all((s["status"] == "failed") == (s["sample_index"] == 1) for s in rows)
        assert all("non-finite latent" in s["error"] for s in rows if s["status"] == "failed")
        assert {s["sample_id"] for s in store.to_label(False)} <= {
            s["sample_id"] for s in rows if s["sample_index"] == 0}


def test_batching_does_not_change_samples(tmp_path):
    prompts = toy_prompts(5)
    generate_dataset(tmp_path / "a", ToyGenerator(), prompts, n=2, seed=1, batch_size=2,
                     progress=False)
    generate_dataset(tmp_path / "b", ToyGenerator(), prompts, n=2, seed=1, batch_size=64,
                     progress=False, cond_dtype="float32")
    assert_same(snapshot(tmp_path / "a"), snapshot(tmp_path / "b"))


def test_threads_and_cpu_batches_keep_the_dataset(tmp_path):
    """Two generating threads and dso-tiny's CPU batches (flow calls of <= 32 rows, 8 grids per
    decoder call) write the dataset that one thread, one flow call per step, writes."""
    world = build_world(tmp_path / "world", n_train=3, n_eval=0, n_synthetic=0, n_val=0,
                        wild_per_family=0, families=TRAIN_FAMILIES[:2], train_views=2,
                        workers=1, progress=False)
    prompts = prompts_from_world(world.root, "train")  # 12 prompts: chunks of 8 and 4
    plain = get_generator("dso-tiny")
    plain.flow_batch, plain.decode_batch = None, 32
    generate_dataset(tmp_path / "fast", get_generator("dso-tiny"), prompts, n=4, seed=2,
                     batch_size=32, workers=2, progress=False)
    generate_dataset(tmp_path / "plain", plain, prompts, n=4, seed=2, batch_size=32, workers=1,
                     progress=False)
    assert_same(snapshot(tmp_path / "fast"), snapshot(tmp_path / "plain"))


def test_resume_refuses_other_settings(tmp_path):
    prompts = toy_prompts(4)
    generate_dataset(tmp_path / "ds", ToyGenerator(), prompts, n=2, seed=1, progress=False)
    again = generate_dataset(tmp_path / "ds", ToyGenerator(), prompts, n=2, seed=1,
                             progress=False)
    assert again.counts["already_done"] == 4 and again.counts["ok"] == 0
    with pytest.raises(DatasetError, match="n: stored 2, now 3"):
        generate_dataset(tmp_path / "ds", ToyGenerator(), prompts, n=3, seed=1, progress=False)
    with pytest.raises(DatasetError, match="weights_fingerprint"):
        generate_dataset(tmp_path / "ds", ToyGenerator(scale=2.0), prompts, n=2, seed=1,
                         progress=False)
    with pytest.raises(DatasetError, match="does not ask for"):
        generate_dataset(tmp_path / "ds", ToyGenerator(), prompts[:3], n=2, seed=1,
                         progress=False)


def test_a_dataset_grows_with_more_prompts(tmp_path):
    prompts = toy_prompts(6)
    generate_dataset(tmp_path / "grown", ToyGenerator(), prompts[:4], n=2, seed=1,
                     progress=False)
    more = generate_dataset(tmp_path / "grown", ToyGenerator(), prompts, n=2, seed=1,
                            progress=False)
    assert more.counts["already_done"] == 4 and more.counts["prompts"] == 6
    generate_dataset(tmp_path / "once", ToyGenerator(), prompts, n=2, seed=1, progress=False)
    assert_same(snapshot(tmp_path / "grown"), snapshot(tmp_path / "once"))
    with SampleStore.open(tmp_path / "grown") as store:
        assert store.meta()["n_prompts"] == 6


def test_files_of_an_uncommitted_chunk_are_replaced_or_swept(tmp_path):
    prompts = toy_prompts(4)
    ds = tmp_path / "ds"
    generate_dataset(ds, ToyGenerator(), prompts[:4], n=2, seed=1, batch_size=4,
                     progress=False)
    reference = snapshot(ds)
    # a run killed after writing files but before its transaction: drop the last chunk's rows
    with SampleStore.open(ds) as store, store.transaction():
        store.conn.execute("DELETE FROM samples WHERE prompt_id IN (?, ?)",
                           (prompts[2].prompt_id, prompts[3].prompt_id))
    (ds / "latents" / "chunk-0000002-0000003.safetensors").write_bytes(b"half-written")
    (ds / "latents" / "chunk-0000009-0000009.safetensors").write_bytes(b"orphan")
    (ds / "meshes" / ".7.ply.tmp-123").write_bytes(b"tmp")
    summary = generate_dataset(ds, ToyGenerator(), prompts[:4], n=2, seed=1, batch_size=4,
                               progress=False)
    assert summary.counts["already_done"] == 2
    assert_same(snapshot(ds), reference)
    assert sorted(f.name for f in (ds / "latents").iterdir()) == [
        "chunk-0000000-0000001.safetensors", "chunk-0000002-0000003.safetensors"]
    assert not list((ds / "meshes").glob(".*"))


_SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from tests.data.data_toy_generator import ToyGenerator, toy_prompts
from dso.data import generate_dataset
generate_dataset({ds!r}, ToyGenerator(delay={delay}), toy_prompts(30), n=2, seed=5,
                 batch_size=2, progress=False)
"""


def test_generation_survives_sigkill(tmp_path):
    ds = tmp_path / "ds"
    script = textwrap.dedent(_SCRIPT).format(root=str(ROOT), ds=str(ds), delay=0.05)
    db = ds / "index.sqlite"
    first = run_and_kill(script, db, "samples", at_least=6)
    second = run_and_kill(script, db, "samples", at_least=first + 20)
    assert 0 < first < second < 60, (first, second)  # both kills landed mid-way
    resumed = generate_dataset(ds, ToyGenerator(), toy_prompts(30), n=2, seed=5, batch_size=2,
                               progress=False)
    assert resumed.counts["already_done"] == second // 2
    generate_dataset(tmp_path / "ref", ToyGenerator(), toy_prompts(30), n=2, seed=5,
                     batch_size=2, progress=False)
    assert_same(snapshot(ds), snapshot(tmp_path / "ref"))
    with SampleStore.open(ds) as store:
        used = {s["latent_shard"] for s in store.samples()}
        assert {f"latents/{f.name}" for f in (ds / "latents").iterdir()} == used


def test_sampler_meta_leaves_out_the_trellis2_settings_at_their_neutral_values():
    """A TRELLIS (or dso-tiny) dataset's meta keeps the sampler keys it had before TRELLIS.2's
    settings existed, so datasets written then still resume; TRELLIS.2's are recorded."""
    from types import SimpleNamespace

    from dso.data.generate import _sampler_dict
    from dso.models.sampler import SamplerConfig

    v1 = _sampler_dict(SimpleNamespace(sampler=SamplerConfig()))
    assert v1 == {"steps": 12, "guidance": 7.5, "cfg_interval": [0.5, 1.0], "rescale_t": 3.0,
                  "sigma_min": 1e-5}
    v2 = _sampler_dict(SimpleNamespace(sampler=SamplerConfig(guidance_form="trellis2",
                                                             guidance_rescale=0.7)))
    assert v2 == {**v1, "guidance_form": "trellis2", "guidance_rescale": 0.7}


class InterruptedGenerator(ToyGenerator):
    """Ctrl-C arrives while the second chunk is being generated."""

    calls = 0

    def generate(self, images, **kw):
        self.calls += 1
        if self.calls == 2:
            raise KeyboardInterrupt
        return super().generate(images, **kw)


def test_an_interrupt_closes_the_progress_bar_before_the_message(tmp_path):
    from tqdm.auto import tqdm

    with pytest.raises(KeyboardInterrupt) as interrupted:
        generate_dataset(tmp_path / "ds", InterruptedGenerator(), toy_prompts(8), n=2,
                         batch_size=4, workers=1, progress=True)
    # the traceback keeps generate_dataset's frame, and so its bar, alive, as while the CLI
    # prints its "interrupted" line: a bar left open is drawn again after that line
    assert interrupted.traceback and not [bar for bar in list(tqdm._instances)
                                          if "generate toy" in str(bar.desc)]
    with SampleStore.open(tmp_path / "ds") as store:
        assert len(store.samples()) == 4  # the first chunk was kept
