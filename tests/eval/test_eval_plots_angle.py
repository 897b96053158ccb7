"""Figures and the report sentence plot and name the angle the preset's verdict used."""

import numpy as np
import pytest

from dso.eval.plots import chamfer_vs_tilt_figure, tilt_histogram_figure
from dso.eval.report import markdown_report
from dso.eval.summary import summarize_rows


def _rows(pieces):
    """Outputs whose tilt is small while their total rotation (yaw included) is not."""
    angles = [(3.0, 35.0)] * 6 + [(2.0, 2.0)] * 4
    return [{"object_id": f"o{i}", "family": "lamp", "view": 0, "sample": 0, "seed": 0,
             "output": True, "stable": dso < 20.0, "pieces": pieces, "tilt_deg": tilt,
             "dso_angle_deg": dso, "cd": 0.01 * (i + 1), "fscore": 80.0, "error": None}
            for i, (tilt, dso) in enumerate(angles)]


def _result(preset):
    angle, pieces = ("dso", None) if preset == "dso" else ("tilt", 1)
    rows = _rows(pieces)
    return {"meta": {"generator": "g", "split": "eval", "seed": 0, "samples_per_image": 1,
                     "preset": preset, "threshold_deg": 20.0, "n_points": 2000},
            **summarize_rows(rows, angle=angle), "items": rows}


def _step_counts(fig, x):
    """Heights the step histogram's outline reaches at bin edge `x`."""
    outline = fig.axes[0].patches[0].get_xy()
    return {float(y) for px, y in outline if px == pytest.approx(x)}


@pytest.mark.parametrize("preset", ["dso", "accurate"])
def test_the_histogram_plots_the_verdicts_angle(preset):
    fig = tilt_histogram_figure({"base": _result(preset)})
    ax = fig.axes[0]
    if preset == "dso":  # 6 outputs at 35 deg: the 35-40 bin; nothing from their tilt of 3
        assert 6.0 in _step_counts(fig, 35.0) and 6.0 not in _step_counts(fig, 0.0)
        assert ax.get_xlabel() == "final rotation 2*acos(w) (deg)"
        assert ax.get_title() == "eval split: 2*acos(w) of every output"  # no pieces rule
    else:
        assert _step_counts(fig, 0.0) >= {10.0}  # all ten tilts (2 and 3 deg) in 0-5
        assert ax.get_xlabel() == "equilibrium tilt (deg)"
        assert ax.get_title().endswith("(in pieces: unstable at any tilt)")


def test_chamfer_is_plotted_against_the_dso_angle_for_the_dso_preset():
    result = _result("dso")
    ax = chamfer_vs_tilt_figure({"base": result}).axes[0]
    plotted = ax.collections[0].get_offsets()[:, 0]
    assert np.allclose(plotted, [r["dso_angle_deg"] for r in result["items"]])
    assert ax.get_xlabel() == "final rotation 2*acos(w) (deg)"


def test_the_report_sentence_names_the_verdicts_angle():
    assert "stable iff 2*acos(w) < 20.0 deg" in markdown_report(_result("dso"))
    assert "stable iff one piece and tilt < 20.0 deg" in markdown_report(_result("accurate"))
