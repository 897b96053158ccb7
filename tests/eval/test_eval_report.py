"""Summaries, JSON / Markdown reports and figures from hand-made evaluation rows."""

import json

import numpy as np
import pytest
import trimesh
from PIL import Image

from dso.eval.plots import (
    picture_grid,
    plot_chamfer_vs_tilt,
    plot_stability_over_steps,
    plot_tilt_histograms,
    read_eval_log,
)
from dso.eval.report import (
    comparison_table,
    family_table,
    load_result,
    markdown_report,
    paired_table,
    results_summary,
    write_report,
)
from dso.eval.summary import summarize_rows


def _row(obj, family, view, *, output=True, stable=True, tilt=1.0, cd=0.04, f=80.0, error=None,
         pieces=1):
    return {"object_id": obj, "family": family, "view": view, "sample": 0, "seed": view,
            "output": output, "stable": stable if output else None,
            "pieces": pieces if output else None,
            "tilt_deg": tilt if output else None, "dso_angle_deg": None,
            "cd": cd if output else None, "fscore": f if output else None, "error": error}


def _result(name="base"):
    rows = [
        _row("a", "lamp", 0, tilt=2.0, cd=0.02, f=90.0),
        _row("a", "lamp", 1, stable=False, tilt=40.0, cd=0.06, f=70.0, pieces=2),
        _row("b", "lamp", 0, output=False, error="generate: boom"),
        _row("c", "chair", 0, stable=False, tilt=None, cd=None, f=None, error="oracle: bad",
             pieces=None),
    ]
    return {"meta": {"generator": name, "split": "eval", "seed": 0, "samples_per_image": 1,
                     "preset": "accurate", "threshold_deg": 20.0, "n_points": 10000},
            **summarize_rows(rows), "items": rows}


def test_summary_numbers_by_hand():
    res = _result()
    lamp, chair, overall = res["families"]["lamp"], res["families"]["chair"], res["overall"]
    assert lamp["n_prompts"] == 3 and lamp["output_pct"] == pytest.approx(200 / 3)
    assert lamp["stable_pct"] == 50.0 and lamp["rot_deg"] == 21.0
    assert lamp["cd"] == pytest.approx(0.04) and lamp["fscore"] == pytest.approx(80.0)
    # an output the oracle could not simulate counts as not stable, has no tilt and no geometry
    assert chair["stable_pct"] == 0.0 and chair["rot_deg"] is None and chair["cd"] is None
    assert chair["n_oracle_errors"] == 1
    assert overall["n_prompts"] == 4 and overall["output_pct"] == 75.0
    assert overall["stable_pct"] == pytest.approx(100 / 3) and overall["n_errors"] == 2
    # one piece among outputs; an output the oracle could not check is not counted as one
    assert lamp["one_piece_pct"] == 50.0 and chair["one_piece_pct"] == 0.0
    assert overall["one_piece_pct"] == pytest.approx(100 / 3)
    no_pieces = summarize_rows([{**r, "pieces": None} for r in res["items"]])  # dso preset
    assert no_pieces["overall"]["one_piece_pct"] is None


def test_report_files_hold_the_numbers(tmp_path):
    res = _result()
    paths = write_report(res, tmp_path / "rep")
    assert load_result(tmp_path / "rep") == json.loads(paths["json"].read_text())
    md = paths["markdown"].read_text()
    assert "| lamp | 3 (2 objects) | 66.7 | 50.0 | 50.0 | 21.00 | 0.0400 | 80.00 |" in md
    assert "| chair | 1 (1 object) | 100.0 | 0.0 | 0.0 | — | — | — |" in md
    assert "generate: boom" in md and "oracle: bad" in md
    assert "**overall**" in family_table(res)


def test_comparison_table_models_by_split():
    results = {"base": {"eval": _result(), "wild": _result()["overall"]},
               "dro": {"eval": _result("dro")}}
    table = comparison_table(results, splits=["eval", "wild"])
    lines = table.splitlines()
    assert lines[0].startswith("| split | model | % Output | % Stable")
    assert lines[2].startswith("| eval | base | 75.0 | 33.3 |")
    assert lines[3].startswith("| eval | dro |") and lines[4].startswith("| wild | base |")
    summary = results_summary(results)
    assert summary["dro"]["eval"]["stable_pct"] == pytest.approx(100 / 3)
    assert set(summary["base"]) == {"eval", "wild"}


def _assert_png(path, min_side=100):
    image = Image.open(path)
    assert image.format == "PNG" and min(image.size) >= min_side
    pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 5  # something was drawn


def test_distribution_plots_are_real_pngs(tmp_path):
    results = {"base": _result(), "dro": _result("dro")}
    _assert_png(plot_tilt_histograms(results, tmp_path / "tilt.png"))
    _assert_png(plot_chamfer_vs_tilt(results, tmp_path / "cd_tilt.png"))


def test_stability_over_steps_from_run_folders(tmp_path):
    for name, gain in (("dro", 2.0), ("dpo", 1.0)):
        run = tmp_path / name
        run.mkdir()
        lines = [json.dumps({"step": s, "stable_pct": 80 + gain * s / 100, "fscore": 75.0})
                 for s in (0, 100, 200)]
        (run / "eval.jsonl").write_text("\n".join(lines) + "\n{\"step\": 30")  # torn last line
    assert [r["step"] for r in read_eval_log(tmp_path / "dro")] == [0, 100, 200]
    runs = {"dro": tmp_path / "dro", "dpo": tmp_path / "dpo"}
    _assert_png(plot_stability_over_steps(runs, tmp_path / "steps.png"))
    with pytest.raises(FileNotFoundError):
        read_eval_log(tmp_path / "missing")


def test_picture_grid_renders_meshes_and_marks_missing_output(tmp_path):
    prompt = np.zeros((64, 64, 3), np.uint8)
    prompt[16:48, 24:40] = 200
    box = trimesh.creation.box((0.3, 0.3, 0.8))
    rows = [(prompt, [box, None]), (prompt, [box, box])]
    out = picture_grid(rows, ["base", "dro"], tmp_path / "grid.png", size=48)
    _assert_png(out)
    with pytest.raises(ValueError):
        picture_grid([(prompt, [box])], ["base", "dro"], tmp_path / "bad.png")


def _lamp_rows(tilts, dso_extra=10.0, f=80.0):
    return [{**_row(f"o{i}", "lamp", 0, stable=t < 20, tilt=t, f=f), "seed": i,
             "dso_angle_deg": t + dso_extra} for i, t in enumerate(tilts)]


def test_rot_reports_the_presets_angle_and_both_means():
    rows = _lamp_rows([1.0, 3.0, 50.0])
    tilt, dso = summarize_rows(rows)["overall"], summarize_rows(rows, "dso")["overall"]
    assert tilt["rot_deg"] == tilt["tilt_deg_mean"] == 18.0 and tilt["rot_angle"] == "tilt"
    assert dso["rot_deg"] == dso["dso_angle_deg_mean"] == 28.0 and dso["rot_angle"] == "dso"
    assert dso["tilt_deg_mean"] == 18.0 and dso["stable_pct"] == tilt["stable_pct"]
    with pytest.raises(ValueError):
        summarize_rows(rows, "yaw")


def _with_ci(rows, name):
    from dso.eval.intervals import add_intervals

    summary = add_intervals(summarize_rows(rows), rows, n_resamples=200)
    return {"meta": {"generator": name, "split": "eval", "bootstrap": {"resamples": 200}},
            **summary, "items": rows}


def test_tables_show_intervals_and_paired_differences_vs_base(tmp_path):
    base = _with_ci(_lamp_rows([1.0, 30.0] * 20), "base")
    better = _with_ci(_lamp_rows([1.0, 2.0] * 20, f=85.0), "dro")
    same = _with_ci(_lamp_rows([1.0, 30.0] * 20), "twin")
    results = {"base": {"eval": base}, "dro": {"eval": better}, "twin": {"eval": same}}
    lines = comparison_table(results).splitlines()
    assert lines[2].startswith("| eval | base | 100.0 | 50.0 [")
    assert "80.00 [80.00, 80.00]" in lines[2]
    assert "| 100.0 [100.0, 100.0] |" in lines[3]
    paired = paired_table(results)
    assert "| eval | dro | 40 (40 objects) | **+50.0 [" in paired
    assert "**+5.00 [5.00, 5.00]**" in paired
    assert "| eval | twin | 40 (40 objects) | 0.0 [0.0, 0.0] |" in paired
    summary = results_summary(results)
    assert "vs_base" not in summary["base"]["eval"]
    vs = summary["dro"]["eval"]["vs_base"]
    assert vs["base"] == "base" and vs["stable_pct"]["real"] and vs["n_matched"] == 40
    assert summary["dro"]["eval"]["ci"]["stable_pct"] == [100.0, 100.0]
    for key in ("output_pct", "stable_pct", "rot_deg", "cd", "fscore"):
        assert key in summary["dro"]["eval"]
    assert paired_table(summary) == paired  # a results_summary carries what the table needs
    assert "vs_base" not in results_summary(results, paired=False)["dro"]["eval"]
    assert paired_table({"dro": {"eval": better}}) == ""  # no base, nothing to pair
    md = write_report(base, tmp_path / "rep")["markdown"].read_text()
    assert "| **overall** | 40 (40 objects) | 100.0 | 50.0 [" in md and "bootstrap intervals" in md


def test_a_bold_interval_never_prints_an_end_at_0():
    vs = {"base": "base", "n_prompts": 40, "n_objects": 40,
          "stable_pct": {"diff": 1.2, "ci": [0.02, 2.5], "real": True},
          "cd": {"diff": -0.002, "ci": [-0.0041, -0.00003], "real": True},
          "fscore": {"diff": 0.5, "ci": [0.0, 1.0], "real": False}}
    summary = {"base": {"eval": {"stable_pct": 50.0}},
               "dro": {"eval": {"stable_pct": 51.2, "vs_base": vs}}}
    row = paired_table(summary, metrics=["stable_pct", "cd", "fscore"]).splitlines()[2]
    assert "**+1.2 [0.02, 2.5]**" in row
    assert "**-0.0020 [-0.0041, -3e-05]**" in row
    assert "| +0.50 [0.00, 1.00] |" in row  # not bold: an end at 0 is printed as 0
    vs["cd"]["ci"] = [float("nan"), -0.00003]  # an end without a value stays a dash
    assert "**-0.0020 [—, -3e-05]**" in paired_table(summary, metrics=["cd"])


def test_the_paired_table_says_when_seeds_or_prompts_differ():
    base = _with_ci(_lamp_rows([1.0, 30.0] * 10), "base")
    reseeded = _with_ci([{**r, "seed": r["seed"] + 100} for r in _lamp_rows([1.0, 2.0] * 10)],
                        "dro")
    longer = _with_ci(_lamp_rows([1.0, 2.0] * 12), "sft")  # four prompts base lacks
    paired = paired_table({"base": {"eval": base}, "dro": {"eval": reseeded},
                           "sft": {"eval": longer}})
    assert "- eval, dro: the matched samples were drawn with other seeds than base's" in paired
    assert "- eval, sft: 4 sample(s) of one side have no match" in paired
    assert "eval, sft: the matched samples" not in paired and "eval, dro: 0 sample" not in paired


def test_an_older_reports_intervals_are_recomputed_over_objects():
    from dso.eval.intervals import UNIT, bootstrap_intervals
    from dso.eval.report import refresh_intervals

    rows = [{**r, "object_id": f"o{i // 4}", "view": i % 4}  # 10 objects x 4 views
            for i, r in enumerate(_lamp_rows([1.0, 1.0, 1.0, 1.0, 30.0, 30.0, 30.0, 30.0] * 5))]
    old = _with_ci(rows, "base")
    old["meta"]["bootstrap"] = {"resamples": 200, "seed": 0,
                                "unit": "prompt image (object, view)"}
    as_images = [{**r, "object_id": f"{r['object_id']}-{r['view']}"} for r in rows]
    old["overall"]["ci"] = bootstrap_intervals(as_images, n_resamples=200)
    before = old["overall"]["ci"]["stable_pct"]
    assert refresh_intervals(old) and old["meta"]["bootstrap"]["unit"] == UNIT
    after = old["overall"]["ci"]["stable_pct"]
    assert after == bootstrap_intervals(rows, n_resamples=200)["stable_pct"]
    assert after[1] - after[0] > 1.5 * (before[1] - before[0])  # 4 views share their fate
    assert old["overall"]["stable_pct"] == 50.0 and not refresh_intervals(old)


def test_the_report_names_the_guidance():
    res = _result()
    assert "guidance" not in markdown_report(res)  # not recorded: not said
    res["meta"]["sampler"] = {"guidance": 3.0}
    assert "1 sample(s) per image, guidance 3, oracle preset" in markdown_report(res)
