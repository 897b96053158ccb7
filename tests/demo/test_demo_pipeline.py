"""The demo end to end on the shipped dso-tiny at a small size: outputs, format, resume."""

import json

import pytest

from dso.demo import DemoConfig, run_demo
from dso.demo.config import MODELS, SPLITS

KEYS = ("output_pct", "stable_pct", "one_piece_pct", "rot_deg", "cd", "fscore")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    cfg = DemoConfig.quick(world_eval=4, eval_views=2, wild_per_family=3, steps=5, workers=1)
    lines: list[str] = []
    results = run_demo(out, cfg, progress=False, log=lines.append)
    return out, cfg, results, lines


def test_results_json_has_every_model_and_split(demo):
    out, _, _, lines = demo
    summary = json.loads((out / "results.json").read_text())
    for model in MODELS:
        for split in SPLITS:
            numbers = summary[model][split]
            assert all(k in numbers for k in KEYS), (model, split, numbers)
            assert 0.0 <= numbers["output_pct"] <= 100.0
    assert summary["goals"]["dro_gap_closed"] is None or summary["goals"]["dro_gap_closed"] <= 1
    assert any(line.startswith("| split | model |") for line in lines)
    assert (out / "report.md").read_text().startswith("# DSO demo report")
    for name in ("dro", "dpo", "sft"):
        assert (out / "runs" / name / "adapter.safetensors").is_file()


def test_adapters_change_the_model(demo):
    _, _, results, _ = demo
    base = [r["tilt_deg"] for r in results["base"]["eval"]["items"]]
    tuned = [r["tilt_deg"] for r in results["dro"]["eval"]["items"]]
    assert len(base) == len(tuned) and base != tuned


def test_rerun_resumes_without_redoing_work(demo):
    out, cfg, results, _ = demo
    again = run_demo(out, cfg, progress=False, log=lambda _: None)
    timings = json.loads((out / "results.json").read_text())["timings_s"]
    assert timings["total"] < 30.0
    for model in MODELS:
        for split in SPLITS:
            assert again[model][split]["overall"] == results[model][split]["overall"]


def test_a_folder_of_other_settings_or_an_older_oracle_is_refused(demo, tmp_path):
    from dso.demo.pipeline import DemoError

    out, cfg, _, _ = demo
    with pytest.raises(DemoError, match="steps"):
        run_demo(out, DemoConfig.quick(steps=6), progress=False, log=lambda _: None)
    old = tmp_path / "old"
    old.mkdir()
    (old / "demo_config.json").write_text(json.dumps({**cfg.to_dict(), "oracle_version": "1.0"}))
    with pytest.raises(DemoError, match="oracle_version"):
        run_demo(old, cfg, progress=False, log=lambda _: None)
    assert not (old / "world").exists()  # refused before any work
