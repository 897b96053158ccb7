"""label_dataset with the real oracle: verdicts, recorded failures, retries, crash-resume."""

import contextlib
import shutil
import signal
from pathlib import Path

import pytest

from dso.data import DatasetError, SampleStore, generate_dataset, label_dataset
from dso.physics import ORACLE_VERSION
from tests.data.data_proc import count_rows, run_and_kill, run_and_signal
from tests.data.data_toy_generator import GridToyGenerator, ToyGenerator, prism, toy_prompts


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    ds = tmp_path_factory.mktemp("gen") / "ds"
    generate_dataset(ds, ToyGenerator(), toy_prompts(10), n=4, seed=0, progress=False)
    return ds


@pytest.fixture
def ds(generated, tmp_path):
    shutil.copytree(generated, tmp_path / "ds")
    return tmp_path / "ds"


def _labels(ds):
    with SampleStore.open(ds) as store:
        return {r["sample_id"]: r for r in store.records() if r["label_status"] is not None}


def test_every_mesh_gets_the_right_verdict(ds):
    summary = label_dataset(ds, workers=1, progress=False)
    with SampleStore.open(ds) as store:
        samples = [s for s in store.samples() if s["status"] == "ok"]
        lat = store.latents([s["sample_id"] for s in samples])
    labels = _labels(ds)
    assert summary.counts["to_label"] == len(samples) == len(labels)
    assert summary.counts["stable"] > 0 and summary.counts["unstable"] > 0
    for s, x in zip(samples, lat, strict=True):
        lab = labels[s["sample_id"]]
        assert lab["label_status"] == "ok" and lab["mass_source"] == "mesh"
        assert lab["stable"] == bool(x[0, 0, 0, 0] > 0)  # upright box vs sheared prism
        assert (lab["preset"], lab["threshold_deg"]) == ("accurate", 20.0)
        assert lab["oracle_version"] == ORACLE_VERSION
        assert (lab["tilt_deg"] < 20) == lab["stable"]
    assert '"label_status": "ok"' in (ds / "manifest.jsonl").read_text()


def test_stored_grids_are_labelled_without_their_mesh_files(tmp_path):
    from safetensors import safe_open

    from dso.physics import check_many

    ds = tmp_path / "ds"
    generate_dataset(ds, GridToyGenerator(), toy_prompts(6), n=3, seed=0, progress=False)
    with SampleStore.open(ds) as store:
        samples = [s for s in store.samples() if s["status"] == "ok"]
        shard = samples[0]["latent_shard"]
    with safe_open(str(ds / shard), framework="pt") as fh:
        assert "occupancy" in fh.keys()
    from_files = check_many([str(ds / s["mesh_path"]) for s in samples], workers=1,
                            progress=False)
    label_dataset(ds, workers=1, progress=False)
    first = _labels(ds)
    for mesh in (ds / "meshes").glob("*.ply"):
        mesh.unlink()  # the grids alone must do
    label_dataset(ds, workers=2, relabel=True, progress=False)
    again = _labels(ds)
    assert {True, False} <= {r.stable for r in from_files}
    for s, r in zip(samples, from_files, strict=True):
        a, b = first[s["sample_id"]], again[s["sample_id"]]
        assert a["label_status"] == b["label_status"] == "ok"
        assert a["stable"] == b["stable"] == r.stable
        assert a["tilt_deg"] == pytest.approx(b["tilt_deg"], abs=1e-9)


def test_label_refuse_over_cap_gives_error_labels(ds):
    summary = label_dataset(ds, workers=1, max_faces=4, refuse_over_cap=True, progress=False)
    labels = _labels(ds)
    assert summary.counts["errors"] == len(labels) > 0
    assert all("exceed the cap" in r["label_error"] for r in labels.values())
    label_dataset(ds, workers=1, max_faces=0, retry_failed=True, progress=False)  # no cap
    assert all(r["label_status"] == "ok" for r in _labels(ds).values())


def test_label_cli_exits_1_when_a_mesh_fails_and_0_when_all_pass(ds):
    from typer.testing import CliRunner

    from dso.cli import app

    with SampleStore.open(ds) as store:
        bad = [s for s in store.samples() if s["status"] == "ok"][3]
    mesh = ds / bad["mesh_path"]
    good = mesh.read_bytes()
    mesh.write_bytes(b"ply\nnot a mesh\n")
    failed = CliRunner().invoke(app, ["label", str(ds), "--workers", "1", "--quiet"])
    assert failed.exit_code == 1 and "could not be checked" in failed.output
    mesh.write_bytes(good)
    again = CliRunner().invoke(app, ["label", str(ds), "--workers", "1", "--quiet",
                                     "--retry-failed"])
    assert again.exit_code == 0, again.output
    with SampleStore.open(ds) as store:
        stable = sum(1 for r in store.records() if r["label_status"] == "ok" and r["stable"])
        ok = sum(1 for r in store.records() if r["status"] == "ok")
    rerun = CliRunner().invoke(app, ["label", str(ds), "--workers", "1", "--quiet"])
    assert "to_label 0" in rerun.output  # nothing new, and the line says what the set holds
    assert f"dataset: {ok} of {ok} meshes labelled, {stable} stable" in rerun.output


def test_broken_mesh_is_recorded_then_retried(ds):
    with SampleStore.open(ds) as store:
        samples = [s for s in store.samples() if s["status"] == "ok"]
    bad = samples[5]
    (ds / bad["mesh_path"]).write_bytes(b"ply\nthis is not a mesh\n")
    first = label_dataset(ds, workers=1, progress=False)
    assert first.counts["errors"] == 1
    labels = _labels(ds)
    assert labels[bad["sample_id"]]["label_status"] == "error"
    assert labels[bad["sample_id"]]["label_error"]
    siblings = [s for s in samples if s["prompt_id"] == bad["prompt_id"] and s is not bad]
    assert siblings and all(labels[s["sample_id"]]["label_status"] == "ok" for s in siblings)
    with SampleStore.open(ds) as store:  # the prompt keeps its other samples for training
        assert {r.sample_id for r in store.labelled() if r.prompt_id == bad["prompt_id"]} == {
            s["sample_id"] for s in siblings}
    skipped = label_dataset(ds, workers=1, progress=False)
    assert skipped.counts["to_label"] == 0 and skipped.counts["skipped_failed"] == 1
    (ds / bad["mesh_path"]).write_bytes(prism(0.0).export(file_type="ply"))
    retried = label_dataset(ds, workers=1, progress=False, retry_failed=True)
    assert retried.counts["to_label"] == 1 and retried.counts["stable"] == 1
    lab = _labels(ds)[bad["sample_id"]]
    assert lab["label_status"] == "ok" and lab["attempts"] == 2


def test_other_oracle_settings_need_relabel(ds):
    label_dataset(ds, workers=1, progress=False)
    with pytest.raises(DatasetError, match="relabel"):
        label_dataset(ds, workers=1, progress=False, threshold=10.0)
    again = label_dataset(ds, workers=1, progress=False, threshold=10.0, relabel=True)
    assert again.counts["to_label"] == len(_labels(ds))
    assert {lab["threshold_deg"] for lab in _labels(ds).values()} == {10.0}


def test_another_face_cap_needs_relabel(ds):
    # the cap changes verdicts (a review: 59 against 60 stable of 96), so it is a setting too
    label_dataset(ds, workers=1, progress=False, max_faces=50)
    capped = {k: lab["tilt_deg"] for k, lab in _labels(ds).items()}
    for kwargs in ({}, {"max_faces": 50, "refuse_over_cap": True}):
        with pytest.raises(DatasetError, match="decimated over .*--relabel"):
            label_dataset(ds, workers=1, progress=False, **kwargs)
    assert {k: lab["tilt_deg"] for k, lab in _labels(ds).items()} == capped  # nothing lost
    again = label_dataset(ds, workers=1, progress=False, relabel=True)
    assert again.counts["to_label"] == len(capped)
    assert label_dataset(ds, workers=1, progress=False).counts["to_label"] == 0


def test_labels_of_an_older_oracle_are_named_and_relabelled_on_request(ds):
    label_dataset(ds, workers=1, progress=False)
    with SampleStore.open(ds) as store, store.transaction():
        store.conn.execute("UPDATE labels SET oracle_version = '1.0', pieces = NULL")
    with pytest.raises(DatasetError, match="oracle version 1.0 .*--relabel"):
        label_dataset(ds, workers=1, progress=False)
    assert {lab["oracle_version"] for lab in _labels(ds).values()} == {"1.0"}  # nothing lost
    again = label_dataset(ds, workers=1, progress=False, relabel=True)
    labels = _labels(ds).values()
    assert again.counts["to_label"] == len(labels)
    assert {lab["oracle_version"] for lab in labels} == {ORACLE_VERSION}
    assert {lab["pieces"] for lab in labels} == {1}  # boxes and prisms: one piece each
    assert all((lab["reason"] is None) == lab["stable"] for lab in labels)


def test_unknown_backend_and_missing_dataset(tmp_path):
    with pytest.raises(ValueError, match="backend"):
        label_dataset(tmp_path, backend="slurm")
    with pytest.raises(DatasetError, match="no dataset"):
        label_dataset(tmp_path / "none", workers=1)
    with pytest.raises(ValueError, match="address names a Ray cluster"):  # never ignored
        label_dataset(tmp_path, address="10.0.0.1:6379")
    with pytest.raises(ValueError, match="address names a Ray cluster"):
        generate_dataset(tmp_path / "ds", ToyGenerator(), toy_prompts(1), n=1,
                         address="10.0.0.1:6379", progress=False)
    assert not (tmp_path / "ds").exists()


def _to_stop(tmp_path, workers: int):
    """A generated dataset, its labels from an uninterrupted run, and the `dso label` script
    to stop: the `dso` preset simulates the full 10 s per mesh (~0.1 s), slow enough to stop
    mid-way."""
    ds, reference = tmp_path / "ds", tmp_path / "ref"
    generate_dataset(ds, ToyGenerator(), toy_prompts(6), n=3, seed=0, progress=False)
    shutil.copytree(ds, reference)
    label_dataset(reference, workers=workers, progress=False, preset="dso")
    script = (f"import sys; sys.argv = ['dso', 'label', {str(ds)!r}, '--workers', "
              f"'{workers}', '--preset', 'dso', '--chunk-size', '2', '--quiet']; "
              "from dso.cli import main; main()")
    return ds, _labels(reference), script


def _same_labels(got: dict, want: dict) -> None:
    keys = ("label_status", "stable", "tilt_deg", "dso_angle_deg", "mass_source", "preset",
            "attempts")
    assert {sid: [r[k] for k in keys] for sid, r in got.items()} == {
        sid: [r[k] for k in keys] for sid, r in want.items()}


def test_labelling_survives_sigkill(tmp_path):
    ds, want, script = _to_stop(tmp_path, workers=1)
    first = run_and_kill(script, ds / "index.sqlite", "labels", at_least=4)
    assert 0 < first < len(want)
    resumed = label_dataset(ds, workers=1, preset="dso", progress=False)
    assert resumed.counts["to_label"] == len(want) - first
    _same_labels(_labels(ds), want)
    assert count_rows(ds / "index.sqlite", "labels") == len(want)  # nothing duplicated


def test_ctrl_c_with_workers_exits_130_records_no_failure_and_resumes(tmp_path):
    # the whole job gets SIGINT, as from a terminal: the CLI and its two oracle workers
    ds, want, script = _to_stop(tmp_path, workers=2)
    seen, code, err = run_and_signal(script, ds / "index.sqlite", "labels", 2, signal.SIGINT)
    assert code == 130, err
    assert err.strip().splitlines()[-1] == "interrupted: rerun the same command to resume"
    assert "Traceback" not in err
    kept = _labels(ds)
    assert seen <= len(kept) < len(want)
    assert all(r["label_status"] == "ok" for r in kept.values())  # no interrupt as a failure
    label_dataset(ds, workers=2, preset="dso", progress=False)
    _same_labels(_labels(ds), want)


def _marked(marker: str) -> list[int]:
    """Pids of live processes whose environment holds `marker`."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker.encode() in (proc / "environ").read_bytes():
                if b"State:\tZ" not in (proc / "status").read_bytes():
                    pids.append(int(proc.name))
        except OSError:  # gone meanwhile, or not ours
            pass
    return pids


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_sigkill_of_the_parent_leaves_no_worker_behind(tmp_path):
    import os
    import subprocess
    import sys
    import time
    import uuid

    ds, _, script = _to_stop(tmp_path, workers=2)
    marker = f"DSO_TEST_MARK={uuid.uuid4().hex}"
    env = {**os.environ, marker.split("=")[0]: marker.split("=")[1]}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while count_rows(ds / "index.sqlite", "labels") < 2:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        assert len(_marked(marker)) >= 3  # the CLI and its workers (and their forkserver)
        proc.kill()  # the parent alone, as the OOM killer would: no one shuts the pool down
        proc.wait()
        deadline = time.monotonic() + 10
        while _marked(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _marked(marker) == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def test_invalid_preset_fails_before_any_work(ds):
    with pytest.raises(ValueError, match="preset"):
        label_dataset(ds, preset="fast", progress=False)
    assert _labels(ds) == {}


def test_follow_labels_samples_while_generate_is_writing_them(tmp_path):
    # generate runs in a thread holding its lock (one prompt per chunk, 0.3 s each); a
    # following label run starts after its first chunk, keeps up, and ends when it ends
    import threading
    import time

    from dso.data.files import lock_held

    ds = tmp_path / "ds"
    slow = threading.Thread(target=generate_dataset, args=(ds, ToyGenerator(delay=0.3),
                                                           toy_prompts(8)),
                            kwargs={"n": 2, "seed": 0, "batch_size": 2, "progress": False,
                                    "workers": 1})
    slow.start()
    deadline = time.monotonic() + 60
    while not (lock_held(ds / ".lock-generate") and count_rows(ds / "index.sqlite", "samples") > 0):
        assert time.monotonic() < deadline, "generate did not start"
        time.sleep(0.05)
    at_start = count_rows(ds / "index.sqlite", "samples")
    summary = label_dataset(ds, workers=1, follow=True, progress=False)
    finished_first = not slow.is_alive()
    slow.join()
    assert at_start < 16 and finished_first  # it started early and outlasted generate
    labels = _labels(ds)
    with SampleStore.open(ds) as store:
        assert store.to_label(retry_failed=True) == []  # every sample with a mesh has a label
    assert summary.counts["to_label"] == len(labels) > at_start
    plain = tmp_path / "plain"
    generate_dataset(plain, ToyGenerator(), toy_prompts(8), n=2, seed=0, batch_size=2,
                     progress=False)
    label_dataset(plain, workers=1, progress=False)
    assert {k: r["stable"] for k, r in labels.items()} == {
        k: r["stable"] for k, r in _labels(plain).items()}


def test_without_a_generate_run_follow_is_one_pass(ds):
    summary = label_dataset(ds, workers=1, follow=True, progress=False)
    assert summary.counts["to_label"] == len(_labels(ds)) > 0


def test_a_truncated_latent_shard_loses_no_label(ds):
    # the shard's grids cannot be read: its samples are checked from their mesh files, and
    # reading its latents (as training does) names the file
    shard = next((ds / "latents").iterdir())
    shard.write_bytes(shard.read_bytes()[:200])
    with pytest.warns(UserWarning, match="cannot be read"):
        summary = label_dataset(ds, workers=1, progress=False)
    assert summary.counts["errors"] == 0 and summary.counts["to_label"] == len(_labels(ds))
    with SampleStore.open(ds) as store:
        ids = [s["sample_id"] for s in store.samples() if s["status"] == "ok"]
        with pytest.raises(DatasetError, match=f"{shard.name} cannot be read"):
            store.latents(ids[:2])


def test_follow_started_before_generate_waits_for_the_dataset(tmp_path):
    import threading
    import time

    ds = tmp_path / "ds"

    def later() -> None:
        time.sleep(1.0)
        generate_dataset(ds, ToyGenerator(delay=0.1), toy_prompts(4), n=2, seed=0,
                         batch_size=2, progress=False, workers=1)

    thread = threading.Thread(target=later)
    thread.start()
    summary = label_dataset(ds, workers=1, follow=True, progress=False)
    thread.join()
    assert summary.counts["to_label"] == len(_labels(ds)) > 0
    with SampleStore.open(ds) as store:
        assert store.to_label(retry_failed=True) == []
