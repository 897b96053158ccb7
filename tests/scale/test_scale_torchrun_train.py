"""`dso train` over 2 gloo ranks on CPU: the recipe's averaged gradient is the union batch's,
ranks draw different rows and noise, only rank 0 writes, and resume under torchrun is exact."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from dso.train import TrainConfig, read_log
from tests.scale.scale_fixtures import build_store, free_port, torchrun_env, write_tiny_weights

WORLD, SEED = 2, 5


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    weights = write_tiny_weights(root / "weights")
    return build_store(root / "ds", weights), weights


def _config(ds, weights, out, steps: int, **kw) -> TrainConfig:
    return TrainConfig(dataset=str(ds), out=str(out), objective="dro", weights=str(weights),
                       steps=steps, batch_size=4, lr=1e-2, warmup=0, grad_clip=0.0,
                       lora_rank=4, seed=SEED, save_every=2, **kw)


def _rank(rank: int, port: int, configs: list[TrainConfig], dump: str) -> None:
    """One rank as torchrun starts it: three runs (straight; 2 steps; resumed to the end).

    Records the gradients its optimizer applies. The process group is joined once here and
    kept across the runs (`train` leaves a group it did not create open).
    """
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    from dso.scale.distributed import cleanup, dist_context
    from dso.train import train

    torchrun_env(rank, WORLD, port)
    torch.set_num_threads(1)
    dist_context(device="cpu")
    seen: list[list[torch.Tensor]] = []

    def grab(optimizer, *_):
        seen.append([p.grad.clone() for g in optimizer.param_groups for p in g["params"]])

    handle = register_optimizer_step_pre_hook(grab)
    straight, first, rest = configs
    train(straight, progress=False)  # no rank given: train() finds torchrun's variables
    handle.remove()
    train(first, progress=False)
    train(rest, resume=True, progress=False)
    cleanup()
    torch.save(seen, os.path.join(dump, f"grads{rank}.pt"))


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    """Straight 4-step run, and a 2-step run resumed to 4, both over 2 gloo ranks."""
    ds, weights = data
    root = tmp_path_factory.mktemp("runs")
    configs = [_config(ds, weights, root / "straight", steps=4),
               _config(ds, weights, root / "resumed", steps=2),
               _config(ds, weights, root / "resumed", steps=4)]
    mp.spawn(_rank, args=(free_port(), configs, str(root)), nprocs=WORLD, join=True)
    return root


def test_two_ranks_average_to_the_union_batch_gradient(data, runs, tmp_path):
    from dso.data import SampleStore
    from dso.data.sampling import BatchSource
    from dso.train.recipe import Recipe, step_seed

    ds, weights = data
    grads = [torch.load(runs / f"grads{r}.pt")[0] for r in range(WORLD)]  # step 1
    for g0, g1 in zip(grads[0], grads[1], strict=True):
        torch.testing.assert_close(g0, g1)  # every rank applies the same, averaged gradient

    # one process, one model, on the union of both ranks' batches (each with its rank's noise)
    ref = Recipe(_config(ds, weights, tmp_path / "ref", steps=2), progress=False).setup()
    store = SampleStore.open(ds)
    sources = [BatchSource(store, "dro", 4, SEED, rank=r, world_size=WORLD) for r in (0, 1)]
    rows = [{r.sample_id for r in s.select(0).rows} for s in sources]
    assert not rows[0] & rows[1]  # the ranks drew different rows
    losses = [ref.micro_loss(src.batch(0), step_seed(SEED, r, 0, 0))[0]
              for r, src in enumerate(sources)]
    mean = torch.stack(losses).mean()
    mean.backward()  # DRO's balanced group means: this is the loss of the union batch
    union = [p.grad for g in ref.optimizer.param_groups for p in g["params"]]
    assert len(union) == len(grads[0]) > 0
    for got, want in zip(grads[0], union, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert abs(losses[0].item() - losses[1].item()) > 1e-6  # different rows and noise

    log = read_log(runs / "straight")  # rank 0 alone writes, and logs the mean over ranks
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert log[0]["loss"] == pytest.approx(mean.item(), rel=1e-5)
    assert log[0]["grad_norm"] == pytest.approx(
        float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in union]))), rel=1e-4)


def test_resume_over_two_ranks_matches_an_uninterrupted_run(runs):
    straight, resumed = runs / "straight", runs / "resumed"
    assert [r["step"] for r in read_log(resumed)] == [1, 2, 3, 4]
    a = load_file(straight / "adapter.safetensors")
    b = load_file(resumed / "adapter.safetensors")
    assert a.keys() == b.keys() and a
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)
    assert [r["loss"] for r in read_log(resumed)] == pytest.approx(
        [r["loss"] for r in read_log(straight)], rel=1e-5)
    grads = [torch.load(runs / f"grads{r}.pt") for r in range(WORLD)]
    assert len(grads[0]) == len(grads[1]) == 4  # straight run: 4 steps, identical on ranks
    for step0, step1 in zip(*grads, strict=True):
        for g0, g1 in zip(step0, step1, strict=True):
            torch.testing.assert_close(g0, g1)


def test_a_two_rank_run_is_not_resumed_in_one_process(data, runs):
    from typer.testing import CliRunner

    from dso.cli import app

    ds, weights = data
    run = runs / "straight"
    before = (run / "log.jsonl").read_text()
    result = CliRunner().invoke(app, ["train", str(ds), "--weights", str(weights), "--out",
                                      str(run), "--resume", "--steps", "6", "--quiet"])
    assert result.exit_code == 2, result.output
    assert (f"error: {run} was trained on 2 process(es), a batch of 8 per step; resuming on 1 "
            "would make it 4 and draw the rows in another order: resume it with torchrun "
            "--nproc-per-node 2, or start a new run") in result.output
    assert (run / "log.jsonl").read_text() == before


def _torchrun(cfg_args: list[str], port: int) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(WORLD),
           "--master-addr", "127.0.0.1", "--master-port", str(port), "-m", "dso", "train",
           *cfg_args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def test_torchrun_dso_train_cli(data, tmp_path):
    """The real launcher: `torchrun --nproc-per-node 2 -m dso train ...` on CPU (gloo)."""
    ds, weights = data
    out = tmp_path / "run"
    proc = _torchrun([str(ds), "--objective", "sft", "--weights", str(weights), "--batch-size",
                      "4", "--steps", "2", "--rank", "4", "--out", str(out), "--quiet"],
                     free_port())
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert [r["step"] for r in read_log(out)] == [1, 2]
    assert (out / "adapter.safetensors").is_file()
    assert proc.stdout.count("trained sft to step 2") == 1  # rank 0 alone reports
