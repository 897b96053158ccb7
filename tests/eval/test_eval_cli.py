"""`dso eval-compare` from reports on disk, and `dso eval` argument checks."""

import json

from typer.testing import CliRunner

from dso.cli import app
from dso.eval.report import write_report
from dso.eval.summary import summarize_rows


def _result(model, split, stable_tilt):
    rows = [{"object_id": f"o{i}", "family": "lamp", "view": 0, "sample": 0, "seed": i,
             "output": True, "stable": t < 20, "tilt_deg": t, "dso_angle_deg": t,
             "cd": 0.04, "fscore": 80.0, "error": None} for i, t in enumerate(stable_tilt)]
    return {"meta": {"generator": model, "split": split}, **summarize_rows(rows), "items": rows}


def test_eval_compare_writes_table_json_and_figures(tmp_path):
    write_report(_result("base", "eval", [1.0, 50.0]), tmp_path / "base-eval")
    write_report(_result("dro", "eval", [1.0, 2.0]), tmp_path / "dro-eval")
    write_report(_result("base", "wild", [90.0, 3.0]), tmp_path / "base-wild")
    args = ["eval-compare", f"base={tmp_path / 'base-eval'}", f"dro={tmp_path / 'dro-eval'}",
            f"base={tmp_path / 'base-wild'}", "--out", str(tmp_path / "cmp")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "| eval | dro | 100.0 | 100.0 | — | 1.50 |" in result.output  # no pieces counted
    summary = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert summary["base"]["eval"]["stable_pct"] == 50.0
    assert summary["base"]["wild"]["rot_deg"] == 46.5
    for name in ("tilt_hist_eval.png", "chamfer_vs_tilt_wild.png", "comparison.md"):
        assert (tmp_path / "cmp" / name).stat().st_size > 0


def test_eval_compare_rejects_malformed_entries(tmp_path):
    result = CliRunner().invoke(app, ["eval-compare", "no-equals-sign", "--out", str(tmp_path)])
    assert result.exit_code != 0


def test_eval_rejects_unknown_split(tmp_path):
    result = CliRunner().invoke(app, ["eval", "--split", "train", "--out", str(tmp_path),
                                      "--world", str(tmp_path)])
    assert result.exit_code != 0
    assert "split" in result.output.lower()


def test_eval_compare_adds_the_paired_table_vs_base(tmp_path):
    write_report(_result("base", "eval", [1.0, 50.0] * 10), tmp_path / "base-eval")
    write_report(_result("dro", "eval", [1.0, 2.0] * 10), tmp_path / "dro-eval")
    args = ["eval-compare", f"base={tmp_path / 'base-eval'}", f"dro={tmp_path / 'dro-eval'}",
            "--out", str(tmp_path / "cmp")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "| eval | dro | 20 | **+50.0 [" in result.output  # 10 of 20 prompts now stand
    assert "model - base" in (tmp_path / "cmp" / "comparison.md").read_text()
    summary = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert summary["dro"]["eval"]["vs_base"]["stable_pct"]["real"] is True


def test_eval_help_names_protocol_and_bootstrap_and_rejects_a_bad_protocol(tmp_path):
    runner = CliRunner()
    text = runner.invoke(app, ["eval", "--help"], env={"COLUMNS": "200"}).output
    assert "--protocol" in text and "release" in text and "--bootstrap" in text
    bad = runner.invoke(app, ["eval", "--protocol", "open3d", "--out", str(tmp_path),
                              "--world", str(tmp_path)])
    assert bad.exit_code != 0 and "protocol" in bad.output.lower()
