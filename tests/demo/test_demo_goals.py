"""The demo's goal arithmetic, checked by hand."""

import pytest

from dso.demo.report import gap_closed, goals


def _numbers(stable, fscore=70.0, cd=0.05, wild=80.0):
    return {"eval": {"stable_pct": stable, "fscore": fscore, "cd": cd},
            "wild": {"stable_pct": wild}}


def test_gap_closed_by_hand():
    # base 80% stable: gap 20 points; tuned 95% closes 15/20 = 75%
    assert gap_closed(80.0, 95.0) == pytest.approx(0.75)
    assert gap_closed(80.0, 70.0) == pytest.approx(-0.5)  # worse than base: negative
    assert gap_closed(100.0, 100.0) is None  # nothing to close
    assert gap_closed(None, 90.0) is None


def test_goals_pass_and_fail():
    summary = {"base": _numbers(80.0), "dro": _numbers(98.0, fscore=69.5, cd=0.051, wild=85.0),
               "dpo": _numbers(90.0, wild=81.0), "sft": _numbers(85.0)}
    met = goals(summary)
    assert met["dro_gap_closed"] == pytest.approx(0.9) and met["dro_gap_closed_ok"]
    assert met["dpo_improves"] and met["dro_ge_dpo_ge_sft"]
    assert met["fscore_drop"] == pytest.approx(0.5) and met["cd_ratio"] == pytest.approx(1.02)
    assert met["geometry_ok"] and met["wild_dro_and_dpo_beat_base"]
    summary["dro"] = _numbers(97.0, fscore=69.4, cd=0.0516, wild=85.0)  # 85% of the gap
    met = goals(summary)
    assert not met["dro_gap_closed_ok"] and not met["geometry_ok"]  # F drop 0.6, CD +3.2%

    summary["dro"] = _numbers(84.0, fscore=60.0, cd=0.08, wild=79.0)
    met = goals(summary)
    assert not met["dro_gap_closed_ok"] and not met["dro_ge_dpo_ge_sft"]
    assert not met["geometry_ok"] and not met["wild_dro_and_dpo_beat_base"]
