"""The recipe on a real tiny flow transformer and a toy labelled set (fast, CPU)."""

import json
import math

import pytest
import torch

from dso.models.rectified_flow import per_sample_error, sample_t
from dso.train import TrainConfig, read_log, train
from dso.train.recipe import Recipe, step_seed
from tests.train.train_fixtures import ToySource, one_thread, tiny_flow, tiny_generator  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


def _config(tmp_path, objective, **kw):
    base = dict(dataset="unused", out=str(tmp_path / objective), objective=objective, steps=20,
                batch_size=8, lr=2e-3, warmup=2, save_every=10, lora_rank=8, lora_alpha=16)
    base.update(kw)
    return TrainConfig(**base)


def _errors(flow, rows, draws=8):
    """Per-row error averaged over fixed draws of t and noise."""
    g = torch.Generator().manual_seed(99)
    x0, cond = rows.x0, rows.cond
    total = torch.zeros(len(x0))
    with torch.no_grad():
        for _ in range(draws):
            t = sample_t(len(x0), g)
            eps = torch.randn(x0.shape, generator=g)
            total += per_sample_error(flow, x0, cond, t, eps)
    return total / draws


def _margin(flow, rows):
    """Mean error on unstable minus mean error on stable rows (fixed t and noise)."""
    err, stable = _errors(flow, rows), rows.stable
    return float(err[~stable].mean() - err[stable].mean())


def test_twenty_dro_steps_favour_stable_samples(tmp_path):
    gen, source = tiny_generator(), ToySource("dro", 8)
    rows = source.all_rows()
    before = _margin(gen.flow, rows)
    result = train(_config(tmp_path, "dro"), generator=gen, source=source, progress=False)
    after = _margin(gen.flow, rows)
    assert result.steps == 20 and len(result.losses) == 20
    print(f"margin before {before:.4f} after {after:.4f}")
    assert after > before + 0.05, (before, after)
    log = read_log(tmp_path / "dro")
    assert [r["step"] for r in log] == list(range(1, 21))
    for key in ("loss", "err_stable", "err_unstable", "grad_norm", "lr", "ascent_clipped"):
        assert all(math.isfinite(r[key]) for r in log), key
    assert log[0]["lr"] == pytest.approx(1e-3) and log[5]["lr"] == pytest.approx(2e-3)


def _base_errors(source, step: int, seed: int) -> tuple[float, float]:
    """Mean errors of the un-adapted base flow on the (w, l) halves of DPO batch `step`, with
    the t and noise the recipe draws for it (one draw per pair, shared by w and l)."""
    base, batch = tiny_flow(0), source.batch(step)
    n = len(batch) // 2
    gen = torch.Generator().manual_seed(step_seed(seed, 0, step, 0))
    t = sample_t(n, gen)
    eps = torch.randn((n, *batch.x0.shape[1:]), generator=gen)
    with torch.no_grad():
        err = per_sample_error(base, batch.x0, batch.cond, t.repeat(2), torch.cat([eps, eps]))
    return float(err[:n].mean()), float(err[n:].mean())


def test_dpo_starts_at_ln2_and_its_reference_is_the_base_flow(tmp_path):
    gen, source = tiny_generator(), ToySource("dpo", 4)
    cfg = _config(tmp_path, "dpo", steps=6, beta=50.0, batch_size=4)
    train(cfg, generator=gen, source=source, progress=False)
    log = read_log(tmp_path / "dpo")
    assert log[0]["loss"] == pytest.approx(math.log(2.0), abs=1e-6)
    assert log[0]["err_stable"] == pytest.approx(log[0]["ref_err_stable"], abs=1e-7)
    assert log[-1]["loss"] < math.log(2.0)
    assert log[-1]["implicit_acc"] > 0
    # at every step, adapters disabled is the base network: its errors, not the tuned model's
    for record in log:
        want = _base_errors(source, record["step"] - 1, cfg.seed)
        got = (record["ref_err_stable"], record["ref_err_unstable"])
        assert got == pytest.approx(want, rel=1e-5), record["step"]
    assert log[-1]["err_stable"] != pytest.approx(log[-1]["ref_err_stable"], rel=1e-4)


def test_sft_lowers_the_error_and_writes_the_run_folder(tmp_path):
    gen, source = tiny_generator(), ToySource("sft", 4)
    rows = source.all_rows()
    before = _errors(gen.flow, rows)[rows.stable].mean()
    cfg = _config(tmp_path, "sft", steps=12, grad_accum=2, batch_size=4)
    train(cfg, generator=gen, source=source, progress=False)
    run = tmp_path / "sft"
    assert _errors(gen.flow, rows)[rows.stable].mean() < 0.98 * before
    saved = json.loads((run / "config.json").read_text())
    assert saved["objective"] == "sft" and saved["grad_accum"] == 2
    assert (run / "adapter.safetensors").is_file() and (run / "adapter_config.json").is_file()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "step_00000010", "step_00000012"]


def test_run_folder_is_not_overwritten_and_resume_checks_settings(tmp_path):
    cfg = _config(tmp_path, "sft", steps=2, batch_size=4)
    train(cfg, generator=tiny_generator(), source=ToySource("sft", 4), progress=False)
    with pytest.raises(FileExistsError, match="resume"):
        Recipe(cfg, generator=tiny_generator(), source=ToySource("sft", 4)).setup()
    changed = _config(tmp_path, "sft", steps=2, batch_size=4, lr=1e-2)
    with pytest.raises(ValueError, match="lr"):
        Recipe(changed, generator=tiny_generator(), source=ToySource("sft", 4)).setup(resume=True)


def test_resume_refuses_another_world_size_and_accepts_runs_without_a_record(tmp_path):
    from dso.train.checkpoint import STATE_FILE, latest_checkpoint, saved_world_size

    cfg = _config(tmp_path, "sft", steps=2, batch_size=4, save_every=1)
    train(cfg, generator=tiny_generator(), source=ToySource("sft", 4), progress=False)
    ckpt = latest_checkpoint(tmp_path / "sft")
    assert saved_world_size(ckpt) == 1
    longer = _config(tmp_path, "sft", steps=3, batch_size=4, save_every=1)
    two = Recipe(longer, generator=tiny_generator(), source=ToySource("sft", 4), world_size=2)
    with pytest.raises(ValueError, match=r"trained on 1 process\(es\), a batch of 4 per step; "
                       r"resuming on 2 would make it 8 .* in a single process"):
        two.setup(resume=True)
    assert [r["step"] for r in read_log(tmp_path / "sft")] == [1, 2]  # nothing touched

    state = torch.load(ckpt / STATE_FILE, weights_only=True)
    del state["world_size"]  # a checkpoint written before the record
    torch.save(state, ckpt / STATE_FILE)
    assert saved_world_size(ckpt) is None
    old = Recipe(longer, generator=tiny_generator(), source=ToySource("sft", 4), world_size=2)
    assert old.setup(resume=True).start_step == 2


def test_eval_hook_runs_at_start_periodically_and_at_end(tmp_path):
    calls = []

    def hook(generator, step):
        assert not generator.flow.training and not torch.is_grad_enabled()
        calls.append(step)
        return {"stable_pct": 50.0 + step, "fscore": 70.0 - step, "cd": 0.05}

    cfg = _config(tmp_path, "dro", steps=6, eval_every=2)
    with pytest.warns(UserWarning, match="geometry degraded"):
        result = train(cfg, generator=tiny_generator(), source=ToySource("dro", 8),
                       eval_fn=hook, progress=False)
    assert calls == [0, 2, 4, 6]
    evals = read_log(tmp_path / "dro", "eval.jsonl")
    assert [e["step"] for e in evals] == [0, 2, 4, 6]
    assert evals[1]["geometry_warnings"] and "F-score" in evals[1]["geometry_warnings"][0]
    assert result.evals[-1]["stable_pct"] == 56.0


class NaNSource(ToySource):
    """ToySource whose batches from step `bad` on carry one NaN latent."""

    def __init__(self, *args, bad: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.bad = bad

    def batch(self, step):
        batch = super().batch(step)
        if step >= self.bad:
            batch.x0[0].view(-1)[0] = float("nan")
        return batch


def test_a_non_finite_gradient_stops_training_before_the_step(tmp_path):
    cfg = TrainConfig(dataset="memory", out=str(tmp_path / "run"), objective="sft", steps=6,
                      batch_size=4, lr=1e-2, warmup=0, lora_rank=4, save_every=2)
    with pytest.raises(ValueError, match="step 3: the gradient is not finite"):
        train(cfg, generator=tiny_generator(), source=NaNSource("sft", 4, bad=2), progress=False)
    run = tmp_path / "run"
    assert not (run / "adapter.safetensors").exists()  # no final adapter from a broken run
    from safetensors.torch import load_file

    kept = load_file(str(run / "checkpoints" / "step_00000002" / "adapter.safetensors"))
    assert all(bool(torch.isfinite(v).all()) for v in kept.values())
    assert [r["step"] for r in read_log(run)] == [1, 2]
