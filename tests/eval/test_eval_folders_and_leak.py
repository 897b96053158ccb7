"""What `dso eval` guards: the report folder it replaces, the world its reports pair on, and
adapters trained on the objects they are evaluated on."""

import json

import pytest
from typer.testing import CliRunner

from dso.cli import app
from dso.data import SampleStore
from dso.eval.folders import PARTIAL_FILE, REPORT_FILES, check_out, clear_out
from dso.eval.leak import training_overlap
from dso.eval.report import comparability, paired_of, write_report
from dso.train.checkpoint import run_of
from dso.train.config import TrainConfig
from tests.eval.test_eval_cli import _result


def _on_world(result, fingerprint):
    result["meta"]["world"] = {"path": f"/worlds/{fingerprint}", "fingerprint": fingerprint}
    return result


def test_reports_of_other_worlds_are_never_paired(tmp_path):
    # object ids and seeds are the same in every world, so rows of two worlds would pair
    base = _on_world(_result("base", "eval", [1.0, 50.0] * 5), "w0")
    other = _on_world(_result("dro", "eval", [1.0, 2.0] * 5), "w1")
    same = _on_world(_result("dro", "eval", [1.0, 2.0] * 5), "w0")
    wild = _on_world(_result("base", "wild", [1.0, 2.0] * 5), "w0-wild")  # splits differ
    with pytest.raises(ValueError, match=r"world \(eval\): base /worlds/w0 \[w0\], dro"):
        comparability({"base": {"eval": base}, "dro": {"eval": other}})
    with pytest.raises(ValueError, match="other worlds"):
        paired_of(other, base, n_resamples=50)
    assert comparability({"base": {"eval": base, "wild": wild}, "dro": {"eval": same}}) == []
    assert paired_of(same, base, n_resamples=50)["n_matched"] == 10
    write_report(base, tmp_path / "b")
    write_report(other, tmp_path / "d")
    cli = CliRunner().invoke(app, ["eval-compare", f"base={tmp_path / 'b'}",
                                   f"dro={tmp_path / 'd'}", "--out", str(tmp_path / "c")])
    assert cli.exit_code == 2 and "world (eval)" in cli.output
    assert not (tmp_path / "c").exists()


def test_an_earlier_report_is_replaced_only_with_force_and_only_when_done(tmp_path):
    out = tmp_path / "report"
    check_out(out, False, REPORT_FILES)  # new: fine
    write_report(_result("base", "eval", [1.0]), out)
    (out / "tilt_hist.png").write_bytes(b"the earlier figure")
    with pytest.raises(FileExistsError, match="add --force"):
        check_out(out, False, REPORT_FILES)
    check_out(out, True, REPORT_FILES)  # checking removes nothing: a killed run keeps it
    assert (out / "tilt_hist.png").exists() and (out / "results.json").exists()
    clear_out(out, REPORT_FILES)
    assert not any(out.iterdir())
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="no report writes .notes.txt"):
        check_out(out, True, REPORT_FILES)
    with pytest.raises(FileExistsError, match="no report writes .notes.txt"):
        check_out(out, False, REPORT_FILES)  # not "add --force": it would not help
    clear_out(out, REPORT_FILES)
    assert (out / "notes.txt").read_text() == "mine"
    killed = tmp_path / "killed"  # a killed run left only its rows: the rerun resumes there
    killed.mkdir()
    (killed / PARTIAL_FILE).write_text("{}\n")
    check_out(killed, False, REPORT_FILES)


def test_eval_compare_refuses_an_earlier_comparison_without_force(tmp_path):
    write_report(_result("base", "eval", [1.0, 50.0]), tmp_path / "b")
    args = ["eval-compare", f"base={tmp_path / 'b'}", "--out", str(tmp_path / "c")]
    assert CliRunner().invoke(app, args).exit_code == 0
    (tmp_path / "c" / "tilt_hist_wild.png").write_bytes(b"a split no longer compared")
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "--force" in again.output
    forced = CliRunner().invoke(app, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert not (tmp_path / "c" / "tilt_hist_wild.png").exists()
    assert (tmp_path / "c" / "tilt_hist_eval.png").stat().st_size > 0


def _run_on(tmp_path, prompts):
    ds = tmp_path / "ds"
    with SampleStore.open(ds, create=True) as store, store.transaction():
        store.add_prompts([{"prompt_id": f"{o}/v0", "position": k, "object_id": o,
                            "split": split, "view": 0} for k, (o, split) in enumerate(prompts)])
    run = tmp_path / "run"
    TrainConfig(dataset=str(ds), out=str(run)).save(run)
    (run / "checkpoints" / "step_00000002").mkdir(parents=True)
    return run


def test_an_adapter_trained_on_the_evaluated_objects_is_flagged(tmp_path, toy_world):
    run = _run_on(tmp_path, [("b0", "eval"), ("x9", "train")])
    found = training_overlap(run, toy_world, "eval")
    assert found["objects_of_split"] == 1 and found["held_out_prompts"] == 1
    assert found["examples"] == ["b0"]
    step = run / "checkpoints" / "step_00000002"
    assert run_of(step) == run and training_overlap(step, toy_world, "eval") == found
    assert training_overlap(run, toy_world, "wild")["objects_of_split"] == 0  # still held out
    clean = _run_on(tmp_path / "clean", [("x9", "train")])
    assert training_overlap(clean, toy_world, "eval") is None
    (tmp_path / "clean" / "ds" / "index.sqlite").unlink()
    assert training_overlap(clean, toy_world, "eval") is None  # nothing to say


def test_the_report_says_so(tmp_path, toy_world):
    from dso.eval.report import markdown_report

    result = _result("dso-tiny+run", "eval", [1.0, 2.0])
    result["meta"]["training_overlap"] = training_overlap(
        _run_on(tmp_path, [("b0", "eval")]), toy_world, "eval")
    text = markdown_report(result)
    assert "**Warning: the adapter was trained on" in text and "not held-out results" in text
    assert json.loads(json.dumps(result["meta"]))["training_overlap"]["objects_of_split"] == 1
