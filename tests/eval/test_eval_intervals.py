"""Bootstrap intervals over objects and paired differences, on hand-made rows and evaluate()."""

import time

import numpy as np
import pytest

from dso.eval.intervals import (
    CI_METRICS,
    bootstrap_distribution,
    bootstrap_intervals,
    bootstrap_weights,
    paired_difference,
)
from dso.eval.run import evaluate
from dso.eval.summary import summarize_rows


def _rows(n_prompts, *, stable=lambda i, j: i % 3 != 0, samples=1, tilt=lambda i, j: 1.0 + i % 7,
          cd=lambda i, j: 0.03 + 0.001 * (i % 5), f=lambda i, j: 70.0 + i % 11, seed0=0):
    return [{"object_id": f"o{i // 2}", "family": "lamp" if i % 2 else "chair", "view": i % 2,
             "sample": j, "seed": seed0 + i * samples + j, "output": True,
             "stable": bool(stable(i, j)), "pieces": 1 if stable(i, j) or i % 4 else 2,
             "tilt_deg": float(tilt(i, j)), "dso_angle_deg": float(tilt(i, j)) + 5.0,
             "cd": float(cd(i, j)), "fscore": float(f(i, j)), "error": None}
            for i in range(n_prompts) for j in range(samples)]


def test_weights_draw_every_prompt_count_and_are_seeded():
    w = bootstrap_weights(50, 200, seed=4)
    assert w.shape == (200, 50) and (w.sum(axis=1) == 50).all() and (w >= 0).all()
    assert np.array_equal(w, bootstrap_weights(50, 200, seed=4))
    assert not np.array_equal(w, bootstrap_weights(50, 200, seed=5))
    assert 0.3 < (w == 0).mean() < 0.45  # about (1 - 1/n)^n = 36% of prompts left out


def test_intervals_contain_the_estimate_and_are_deterministic():
    rows = _rows(120)
    overall = summarize_rows(rows)["overall"]
    ci = bootstrap_intervals(rows)
    assert set(ci) == set(CI_METRICS)
    for metric in CI_METRICS:
        lo, hi = ci[metric]
        assert lo < overall[metric] < hi, metric
    assert bootstrap_intervals(rows) == ci
    assert bootstrap_intervals(rows, seed=1) != ci
    wide = bootstrap_intervals(rows, level=0.99)["stable_pct"]
    assert wide[0] <= ci["stable_pct"][0] and wide[1] >= ci["stable_pct"][1]


def test_intervals_shrink_with_more_prompts():
    small, large = bootstrap_intervals(_rows(60)), bootstrap_intervals(_rows(960))
    for metric in ("stable_pct", "cd", "fscore", "rot_deg"):
        width_small = small[metric][1] - small[metric][0]
        width_large = large[metric][1] - large[metric][0]
        assert width_large < 0.5 * width_small, metric  # ~ 1/sqrt(16) = 1/4 expected


def test_all_prompts_agreeing_give_a_point_interval():
    rows = _rows(40, stable=lambda i, j: True, tilt=lambda i, j: 3.3, cd=lambda i, j: 0.0417,
                 f=lambda i, j: 81.7, samples=3)
    ci = bootstrap_intervals(rows)
    assert ci["stable_pct"] == [100.0, 100.0] and ci["one_piece_pct"] == [100.0, 100.0]
    assert ci["cd"] == [0.0417, 0.0417] and ci["fscore"] == [81.7, 81.7]
    assert ci["rot_deg"] == [3.3, 3.3]
    assert bootstrap_intervals(rows, angle="dso")["rot_deg"] == [8.3, 8.3]


def test_all_views_and_samples_of_an_object_are_drawn_together():
    """Object o0 (two views, two samples each): all stable; o1: none. Resampling objects can
    only give 0, 50 or 100 % Stable; resampling images or rows would also give 25 and 75."""
    rows = _rows(4, stable=lambda i, j: i < 2, samples=2)
    assert {r["object_id"] for r in rows} == {"o0", "o1"}
    values = bootstrap_distribution(rows, n_resamples=500)["stable_pct"]
    assert set(np.unique(values)) == {0.0, 50.0, 100.0}


def test_views_that_share_their_objects_fate_widen_the_interval():
    # 60 objects x 12 views, each object all stable or all not: 60 independent units, not 720
    rows = [{**r, "object_id": f"o{i // 12}", "view": i % 12}
            for i, r in enumerate(_rows(720, stable=lambda i, j: (i // 12) % 3 != 0))]
    as_images = [{**r, "object_id": f"{r['object_id']}-{r['view']}"} for r in rows]
    by_object = bootstrap_intervals(rows)["stable_pct"]
    by_image = bootstrap_intervals(as_images)["stable_pct"]
    ratio = (by_object[1] - by_object[0]) / (by_image[1] - by_image[0])
    assert 2.5 < ratio < 4.5  # ~ sqrt(12) = 3.5


def test_metrics_without_rows_have_no_interval():
    rows = [{**r, "pieces": None, "cd": None, "fscore": None} for r in _rows(10)]
    ci = bootstrap_intervals(rows)
    assert ci["one_piece_pct"] is None and ci["cd"] is None and ci["fscore"] is None
    assert ci["stable_pct"] is not None
    assert bootstrap_intervals([])["stable_pct"] is None


def test_paired_identical_model_is_zero_and_not_real():
    base = _rows(100, samples=2)
    same = paired_difference([dict(r) for r in base], base)
    assert same["n_matched"] == 200 and same["n_prompts"] == 100 and same["seeds_match"]
    assert same["n_objects"] == 50 and same["n_unmatched"] == 0
    for metric in CI_METRICS:
        assert same[metric] == {"diff": 0.0, "ci": [0.0, 0.0], "real": False}, metric


def test_paired_clearly_better_model_is_real_a_reshuffle_is_not():
    base = _rows(200, stable=lambda i, j: i % 10 < 3)  # 30% stable
    better = _rows(200, stable=lambda i, j: i % 10 < 9, f=lambda i, j: 71.0 + i % 11)
    out = paired_difference(better, base)
    assert out["stable_pct"]["diff"] == pytest.approx(60.0)
    lo, hi = out["stable_pct"]["ci"]
    assert 0.0 < lo < 60.0 < hi and out["stable_pct"]["real"]
    assert out["fscore"]["ci"] == pytest.approx([1.0, 1.0]) and out["fscore"]["real"]
    assert out["cd"] == {"diff": 0.0, "ci": [0.0, 0.0], "real": False}
    # same % Stable, but two objects' views that stood now fall and two others now stand
    swapped = _rows(200, stable=lambda i, j: (i % 10 < 3) != (i < 20 and i % 10 in (2, 4)))
    flat = paired_difference(swapped, base)["stable_pct"]
    assert flat["diff"] == 0.0 and flat["ci"][0] < 0.0 < flat["ci"][1] and not flat["real"]


def test_paired_matches_rows_by_object_view_and_sample():
    base = _rows(30)
    model = _rows(34, seed0=1000)  # four more prompts, other seeds
    out = paired_difference(model, base)
    assert out["n_matched"] == 30 and out["n_prompts"] == 30 and not out["seeds_match"]
    assert out["n_unmatched"] == 4


def test_cost_for_780_prompts_and_four_models_is_well_under_a_second():
    models = [_rows(780, stable=lambda i, j, k=k: (i * (k + 3)) % 10 < 5 + k) for k in range(4)]
    start = time.perf_counter()
    for rows in models:
        bootstrap_intervals(rows)
    for rows in models[1:]:
        paired_difference(rows, models[0])
    assert time.perf_counter() - start < 2.0  # ~0.1 s measured; slack for a busy machine


def test_evaluate_carries_intervals_and_both_angles(toy_generator, toy_world):
    res = evaluate(toy_generator, toy_world, "eval", workers=1, progress=False, n_points=500)
    overall = res["overall"]
    assert res["meta"]["protocol"] == "paper" and res["meta"]["icp"]["max_correspondence"] == 0.02
    assert res["meta"]["bootstrap"]["resamples"] == 1000 and overall["rot_angle"] == "tilt"
    assert overall["rot_deg"] == overall["tilt_deg_mean"]
    assert overall["dso_angle_deg_mean"] is not None
    lo, hi = overall["ci"]["stable_pct"]
    assert lo <= overall["stable_pct"] <= hi and lo < hi  # block stands, topple falls
    assert res["families"]["block"]["ci"]["stable_pct"] == [100.0, 100.0]
    plain = evaluate(toy_generator, toy_world, "eval", workers=1, progress=False, n_points=500,
                     bootstrap=0, protocol="dso-v1")
    assert "ci" not in plain["overall"] and plain["meta"]["bootstrap"] is None
    assert plain["overall"]["stable_pct"] == overall["stable_pct"]
    with pytest.raises(ValueError, match="protocol"):
        evaluate(toy_generator, toy_world, "eval", progress=False, protocol="open3d")


def test_one_object_gets_no_interval_and_no_real_difference():
    # resampling one object always draws it: a zero-width interval would read as certainty
    from dso.eval.intervals import bootstrap_intervals, paired_difference

    def rows(tilts):
        return [{"object_id": "o", "family": "lamp", "view": v, "sample": 0, "seed": v,
                 "output": True, "stable": t < 20, "tilt_deg": t, "dso_angle_deg": t,
                 "cd": 0.04, "fscore": 80.0, "error": None} for v, t in enumerate(tilts)]

    assert all(ci is None for ci in bootstrap_intervals(rows([1.0, 50.0])).values())
    diff = paired_difference(rows([1.0, 2.0]), rows([1.0, 50.0]))
    assert diff["stable_pct"]["diff"] == 50.0
    assert diff["stable_pct"]["ci"] is None and diff["stable_pct"]["real"] is False
    two = rows([1.0, 50.0]) + [{**r, "object_id": "p"} for r in rows([2.0, 3.0])]
    assert bootstrap_intervals(two, n_resamples=200)["stable_pct"] is not None
