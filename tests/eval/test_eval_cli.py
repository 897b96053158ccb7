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


def test_eval_compare_refuses_reports_measured_differently(tmp_path):
    # another --points (or ICP protocol, oracle preset...) changes what CD, F and % stable mean;
    # another guidance is how a model samples: shown, not refused
    def report(name, model, **meta):
        result = _result(model, "eval", [1.0, 50.0] * 5)
        result["meta"].update(meta)
        write_report(result, tmp_path / name)
        return f"{model}={tmp_path / name}"

    base = report("base", "base", n_points=1000, sampler={"guidance": 7.5})
    far = report("far", "dro", n_points=2000, sampler={"guidance": 7.5})
    g3 = report("g3", "dro", n_points=1000, sampler={"guidance": 3.0})
    runner = CliRunner()
    bad = runner.invoke(app, ["eval-compare", base, far, "--out", str(tmp_path / "c1")])
    assert bad.exit_code == 2 and "measured differently" in bad.output
    assert "n_points: base (eval) 1000, dro (eval) 2000" in bad.output
    assert not (tmp_path / "c1").exists()
    ok = runner.invoke(app, ["eval-compare", base, g3, "--out", str(tmp_path / "c2")])
    assert ok.exit_code == 0, ok.output
    assert "note: the reports differ in sampler" in ok.stderr
    old = report("old", "sft", sampler={"guidance": 7.5})  # written before n_points was kept
    older = runner.invoke(app, ["eval-compare", base, old, "--out", str(tmp_path / "c5")])
    assert older.exit_code == 0, older.output
    assert "note: the reports differ in n_points: base (eval) 1000, sft (eval) None" in \
        older.stderr
    (tmp_path / "other.json").write_text('{"base": {"eval": {}}}')
    other = runner.invoke(app, ["eval-compare", f"base={tmp_path / 'other.json'}", "--out",
                                str(tmp_path / "c6")])
    assert other.exit_code == 2 and "is not a dso eval report (no meta.split)" in other.output
    twice = runner.invoke(app, ["eval-compare", base, base, "--out", str(tmp_path / "c3")])
    assert twice.exit_code == 2 and "given twice for split 'eval'" in twice.output
    gone = runner.invoke(app, ["eval-compare", f"base={tmp_path / 'nope'}", "--out",
                               str(tmp_path / "c4")])
    assert gone.exit_code == 2 and "is not a dso eval report" in gone.output


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
    # 10 of 20 prompts now stand
    assert "| eval | dro | 20 (20 objects) | **+50.0 [" in result.output
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
