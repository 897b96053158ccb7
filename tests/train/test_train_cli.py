"""`dso train` on a real store made by the real (tiny, random) generator; adapters reload."""

import dataclasses
import math
import os
import signal
import subprocess
import sys
import time
import warnings

import pytest
import torch
from typer.testing import CliRunner

from dso.cli import app
from dso.models import get_generator
from dso.models.rectified_flow import per_sample_error
from dso.train import TrainConfig, load_adapter, read_log
from dso.train.checkpoint import list_checkpoints
from dso.train.recipe import Recipe
from tests.train.train_fixtures import build_store, one_thread, write_tiny_weights  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_cli")
    weights = write_tiny_weights(root / "weights")
    return build_store(root / "ds", weights), weights


def _args(ds, weights, out, *extra):
    return ["train", str(ds), "--out", str(out), "--weights", str(weights), "--batch-size", "4",
            "--quiet", *extra]


def test_dpo_run_from_the_command_line(setup, tmp_path):
    ds, weights = setup
    out = tmp_path / "dpo"
    result = CliRunner().invoke(app, _args(ds, weights, out, "--objective", "dpo", "--steps",
                                           "3", "--beta", "50"))
    assert result.exit_code == 0, result.output
    assert "trained dpo to step 3" in result.output
    log = read_log(out)
    assert [r["step"] for r in log] == [1, 2, 3]
    assert log[0]["loss"] == pytest.approx(math.log(2.0), abs=1e-6)
    cfg = TrainConfig.load(out)
    assert (cfg.generator, cfg.objective, cfg.beta) == ("dso-tiny", "dpo", 50.0)
    assert (out / "adapter.safetensors").is_file()

    bad = CliRunner().invoke(app, _args(ds, weights, out, "--resume", "--lr", "1.0"))
    assert bad.exit_code == 2 and "lr" in bad.output
    more = CliRunner().invoke(app, _args(ds, weights, out, "--resume", "--steps", "5"))
    assert more.exit_code == 0, more.output
    assert "resumed from step 3" in more.output
    assert [r["step"] for r in read_log(out)] == [1, 2, 3, 4, 5]
    done = CliRunner().invoke(app, _args(ds, weights, out, "--resume"))
    assert done.exit_code == 0 and "no step left to run" in done.output
    assert "nan" not in done.output


def test_resume_of_a_missing_run_says_it_starts_a_new_one(setup, tmp_path):
    ds, weights = setup
    out = tmp_path / "typo"
    result = CliRunner().invoke(app, _args(ds, weights, out, "--objective", "sft", "--steps",
                                           "1", "--resume"))
    assert result.exit_code == 0, result.output
    assert f"note: no run in {out} to resume (no config.json): starting a new one" in \
        result.stderr
    assert "resumed from step" not in result.output
    assert [r["step"] for r in read_log(out)] == [1]


def test_bad_flags_fail_with_one_line(setup, tmp_path):
    ds, weights = setup
    runner = CliRunner()
    res = runner.invoke(app, _args(ds, weights, tmp_path / "a"))
    assert res.exit_code == 2 and "--objective is required" in res.output
    res = runner.invoke(app, _args(ds, weights, tmp_path / "b", "--objective", "dro",
                                   "--eval-every", "2"))
    assert res.exit_code == 2 and "--world" in res.output
    res = runner.invoke(app, _args(ds, weights, tmp_path / "c", "--objective", "dro",
                                   "--batch-size", "1"))
    assert res.exit_code == 2 and "batch_size" in res.output
    res = runner.invoke(app, _args(tmp_path / "nothing", weights, tmp_path / "d",
                                   "--objective", "sft"))
    assert res.exit_code == 2 and "no dataset" in res.output


def test_a_run_never_goes_where_it_cannot(setup, tmp_path):
    # into a folder that holds something else (here the dataset), onto a device this machine
    # lacks, or a --resume of nothing: exit 2, one line, and nothing written
    ds, weights = setup
    runner = CliRunner()
    before = sorted(p.name for p in ds.iterdir())
    res = runner.invoke(app, _args(ds, weights, ds, "--objective", "sft", "--steps", "1"))
    assert res.exit_code == 2 and "holds no dso train run" in res.output
    assert sorted(p.name for p in ds.iterdir()) == before
    res = runner.invoke(app, _args(ds, weights, tmp_path / "r", "--resume"))
    assert res.exit_code == 2 and "no run to resume" in res.output
    devices = ["bogus"] + ([] if torch.cuda.is_available() else ["cuda"])
    for device in devices:
        res = runner.invoke(app, _args(ds, weights, tmp_path / device, "--objective", "sft",
                                       "--device", device))
        assert res.exit_code == 2 and res.output.startswith("error: "), res.output
        assert "Traceback" not in res.output and not (tmp_path / device).exists()


def test_trained_adapter_reloads_merged_and_unmerged(setup, tmp_path):
    ds, weights = setup
    cfg = TrainConfig(dataset=str(ds), out=str(tmp_path / "sft"), objective="sft", steps=4,
                      batch_size=4, weights=str(weights), lr=5e-3)
    recipe = Recipe(cfg, progress=False).setup()
    recipe.train()
    trained = recipe.generator.flow.eval()
    g = torch.Generator().manual_seed(0)
    x0, cond = torch.randn(3, 2, 4, 4, 4, generator=g), torch.randn(3, 4, 16, generator=g)
    t, eps = torch.rand(3, generator=g), torch.randn(3, 2, 4, 4, 4, generator=g)
    with torch.no_grad():
        want = per_sample_error(trained, x0, cond, t, eps)
        base = per_sample_error(get_generator("dso-tiny", weights=weights).flow, x0, cond, t,
                                eps)
        merged = load_adapter(get_generator("dso-tiny", weights=weights), tmp_path / "sft")
        unmerged = load_adapter(get_generator("dso-tiny", weights=weights),
                                tmp_path / "sft" / "checkpoints" / "step_00000004",
                                merge=False)
        got_m = per_sample_error(merged.flow, x0, cond, t, eps)
        got_u = per_sample_error(unmerged.flow, x0, cond, t, eps)
    assert not torch.allclose(base, want, atol=1e-5)  # training changed something
    assert torch.allclose(got_m, want, atol=1e-5) and torch.allclose(got_u, want, atol=1e-6)
    with pytest.raises(ValueError, match="already"):
        load_adapter(unmerged, tmp_path / "sft")


def test_other_weights_than_the_dataset_are_flagged(setup, tmp_path):
    ds, _ = setup
    other = write_tiny_weights(tmp_path / "other", seed=1)
    cfg = TrainConfig(dataset=str(ds), out=str(tmp_path / "run"), objective="sft", steps=1,
                      batch_size=4, weights=str(other))
    with pytest.warns(UserWarning, match="on-policy"):
        Recipe(cfg, progress=False).setup()


def _spawn(args, threads="1"):
    env = {**os.environ, "OMP_NUM_THREADS": threads}
    # SIGINT as a terminal delivers it, even when the tests run as a background job (where the
    # shell starts children with SIGINT ignored)
    return subprocess.Popen([sys.executable, "-m", "dso", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_sigkill_then_resume_matches_an_uninterrupted_run(setup, tmp_path):
    ds, weights = setup
    steps = ["--steps", "100", "--save-every", "5", "--dropout", "0.1", "--seed", "3",
             "--objective", "dro"]
    run = tmp_path / "crashed"
    proc = _spawn(_args(ds, weights, run, *steps))
    deadline = time.time() + 90
    while not list_checkpoints(run) and time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = list_checkpoints(run)[0][0]
    assert first < 100
    resumed = _spawn(_args(ds, weights, run, "--resume"))
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    resumed_from = int(out.split("resumed from step ")[1].split()[0])
    assert 5 <= resumed_from < 100  # it continued from a checkpoint, not from scratch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ref = CliRunner().invoke(app, _args(ds, weights, tmp_path / "clean", *steps))
    finally:
        torch.set_num_threads(threads)
    assert ref.exit_code == 0, ref.output
    got, want = read_log(run), read_log(tmp_path / "clean")
    assert [r["step"] for r in got] == list(range(1, 101))
    assert [r["loss"] for r in got] == [r["loss"] for r in want]
    assert [r["grad_norm"] for r in got] == [r["grad_norm"] for r in want]


def test_the_generator_is_fine_tuned_at_the_guidance_its_dataset_was_sampled_at(setup, tmp_path):
    # the guided loss and --eval-every follow the sampler whose outputs are being fixed
    _, weights = setup
    ds = build_store(tmp_path / "ds3", weights, prompts=2, guidance=3.0)
    for dataset, guidance in ((ds, 3.0), (setup[0], get_generator(
            "dso-tiny", weights=weights).sampler.guidance)):
        cfg = TrainConfig(dataset=str(dataset), out=str(tmp_path / f"run{guidance}"),
                          objective="sft", steps=1, batch_size=2, weights=str(weights))
        assert Recipe(cfg, progress=False).setup().generator.sampler.guidance == guidance


def test_ctrl_c_exits_130_and_says_how_to_go_on(setup, tmp_path):
    ds, weights = setup
    run = tmp_path / "stopped"
    proc = _spawn(_args(ds, weights, run, "--steps", "400", "--save-every", "2",
                        "--objective", "sft"))
    deadline = time.time() + 90
    while not list_checkpoints(run) and time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == ("interrupted: continue from the last checkpoint "
                                            "with the same command and --resume")
    assert "Traceback" not in err


def test_a_dataset_of_another_generator_is_refused_before_anything_is_written(setup, tmp_path):
    ds, weights = setup
    out = tmp_path / "other"
    res = CliRunner().invoke(app, _args(ds, weights, out, "--objective", "sft",
                                        "--generator", "trellis"))
    assert res.exit_code == 2 and "generated by dso-tiny, not trellis" in res.output
    assert not out.exists()


def test_dro_with_an_unbounded_ascent_warns_when_training_starts(setup, tmp_path):
    ds, weights = setup
    cfg = TrainConfig(dataset=str(ds), out=str(tmp_path / "run"), objective="dro", steps=1,
                      batch_size=2, weights=str(weights))
    with pytest.warns(UserWarning, match="no bound on its ascent"):
        Recipe(cfg, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Recipe(dataclasses.replace(cfg, ascent_bound=0.8), progress=False)
    # the command line shows it as one line, not Python's file:line and source line
    proc = _spawn(_args(ds, weights, tmp_path / "cli", "--objective", "dro", "--steps", "1"))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert err.splitlines()[0].startswith("warning: DRO with no bound on its ascent"), err


def test_a_partly_labelled_dataset_is_flagged(setup, tmp_path):
    import shutil

    from dso.data import SampleStore

    ds, weights = setup
    part = tmp_path / "part"
    shutil.copytree(ds, part)
    cfg = TrainConfig(dataset=str(part), out=str(tmp_path / "run"), objective="sft", steps=1,
                      batch_size=4, weights=str(weights))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Recipe(cfg, progress=False).setup()  # every mesh labelled: no warning
    with SampleStore.open(part) as store, store.transaction():
        store.conn.execute("DELETE FROM labels WHERE sample_id IN "
                           "(SELECT sample_id FROM labels ORDER BY sample_id LIMIT 3)")
    again = dataclasses.replace(cfg, out=str(tmp_path / "run2"))
    with pytest.warns(UserWarning, match="3 meshes of the dataset have no label yet"):
        Recipe(again, progress=False).setup()


def test_resuming_on_changed_labels_is_flagged(setup, tmp_path):
    import shutil

    from dso.data import SampleStore
    from dso.train import train

    ds, weights = setup
    copy = tmp_path / "ds"
    shutil.copytree(ds, copy)
    cfg = TrainConfig(dataset=str(copy), out=str(tmp_path / "run"), objective="sft", steps=2,
                      batch_size=4, weights=str(weights), save_every=1)
    train(cfg, progress=False)
    longer = dataclasses.replace(cfg, steps=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same labels: resumes quietly
        train(longer, resume=True, progress=False)
    with SampleStore.open(copy) as store, store.transaction():
        store.conn.execute("UPDATE labels SET stable = 1 - stable WHERE sample_id = "
                           "(SELECT MIN(sample_id) FROM labels WHERE status = 'ok')")
    with pytest.warns(UserWarning, match="labels changed since this run started"):
        train(dataclasses.replace(cfg, steps=4), resume=True, progress=False)


def test_a_dataset_of_held_out_prompts_is_flagged(setup, tmp_path):
    import shutil

    from dso.data import SampleStore

    ds, weights = setup
    leak = tmp_path / "leak"
    shutil.copytree(ds, leak)
    with SampleStore.open(leak) as store, store.transaction():
        (first, *_) = store.prompts()
        store.conn.execute("UPDATE prompts SET split = 'eval' WHERE prompt_id = ?",
                           (first["prompt_id"],))
    cfg = TrainConfig(dataset=str(leak), out=str(tmp_path / "run"), objective="sft", steps=1,
                      batch_size=4, weights=str(weights))
    with pytest.warns(UserWarning, match="held-out split.s. eval: a model trained on them"):
        Recipe(cfg, progress=False).setup()
