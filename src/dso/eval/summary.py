"""Aggregate per-item evaluation rows into the paper's numbers, per family and overall."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ANGLES", "ANGLE_NAMES", "METRICS", "angle_of_preset", "angle_of_result",
           "count_prompts", "pieces_rule", "summarize", "summarize_rows"]

# The headline numbers, in table order, and how to print them.
METRICS = ("output_pct", "stable_pct", "one_piece_pct", "rot_deg", "cd", "fscore")
# Rot. can be either angle the oracle reports per row: "tilt" (tilt of the up axis, dso's) or
# "dso" (the release's 2*acos(w), yaw included); the headline follows the preset's verdict.
ANGLES = {"tilt": "tilt_deg", "dso": "dso_angle_deg"}
ANGLE_NAMES = {"tilt": "tilt", "dso": "2*acos(w)"}  # how figures and reports name them


def angle_of_preset(preset: str) -> str:
    """The angle an oracle preset decides with ("tilt" for accurate, "dso" for dso)."""
    from dso.physics import OracleConfig

    return OracleConfig.from_preset(preset).verdict_angle


def angle_of_result(result: Mapping[str, Any]) -> str:
    """The angle an evaluation result's verdicts used: the `rot_angle` it recorded, else its
    meta's preset's, else "tilt"."""
    meta = result.get("meta", {})
    angle = result.get("overall", {}).get("rot_angle") or meta.get("rot_angle")
    if angle in ANGLES:
        return angle
    from dso.physics import PRESETS

    return angle_of_preset(meta["preset"]) if meta.get("preset") in PRESETS else "tilt"


def pieces_rule(result: Mapping[str, Any]) -> bool:
    """Whether the result's preset makes an output of several pieces unstable (True when the
    meta names no preset)."""
    from dso.physics import PRESETS, OracleConfig

    preset = result.get("meta", {}).get("preset")
    return preset not in PRESETS or OracleConfig.from_preset(preset).pieces


def count_prompts(rows: Sequence[Mapping[str, Any]]) -> int:
    """Distinct prompt images (object, view) among `rows`."""
    return len({(str(r["object_id"]), r["view"]) for r in rows})


def _mean(values: list[float]) -> float | None:
    return float(sum(values) / len(values)) if values else None


def _pct(count: int, total: int) -> float | None:
    return 100.0 * count / total if total else None


def _pieces_analysed(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether the oracle counted pieces (the accurate preset) for any row."""
    return any(r.get("pieces") is not None for r in rows)


def _angle_mean(outputs: Sequence[dict[str, Any]], key: str) -> float | None:
    return _mean([r[key] for r in outputs if r.get(key) is not None])


def summarize(rows: Sequence[dict[str, Any]], pieces: bool | None = None,
              angle: str = "tilt") -> dict[str, Any]:
    """Numbers for one group of rows.

    output_pct: samples with a mesh / samples. stable_pct: stable / outputs, where an output
    the oracle could not simulate counts as not stable (a model cannot gain by producing
    broken meshes). rot_deg: mean equilibrium angle over outputs the oracle simulated, the
    `angle` the preset decides with ("tilt" or "dso" = 2*acos(w)); tilt_deg_mean and
    dso_angle_deg_mean: both means, side by side.
    one_piece_pct: outputs with one significant piece / outputs (an output the oracle could not
    check counts as not one piece; None when the preset did not count pieces: `pieces`, by
    default whether any row has a piece count).
    cd / fscore: means over outputs whose geometry could be scored (fscore in percent).
    """
    if angle not in ANGLES:
        raise ValueError(f"angle must be one of {', '.join(ANGLES)}, got {angle!r}")
    outputs = [r for r in rows if r["output"]]
    tilts = [r["tilt_deg"] for r in outputs if r["tilt_deg"] is not None]
    cds = [r["cd"] for r in outputs if r["cd"] is not None]
    fs = [r["fscore"] for r in outputs if r["fscore"] is not None]
    return {
        "n_prompts": count_prompts(rows),
        "n_samples": len(rows),
        "n_outputs": len(outputs),
        "output_pct": _pct(len(outputs), len(rows)),
        "stable_pct": _pct(sum(1 for r in outputs if r["stable"]), len(outputs)),
        "one_piece_pct": _pct(sum(1 for r in outputs if r.get("pieces") == 1), len(outputs))
        if (_pieces_analysed(rows) if pieces is None else pieces) else None,
        "rot_deg": _angle_mean(outputs, ANGLES[angle]),
        "rot_angle": angle,
        "tilt_deg_mean": _mean(tilts),
        "dso_angle_deg_mean": _angle_mean(outputs, "dso_angle_deg"),
        "cd": _mean(cds),
        "fscore": _mean(fs),
        "n_oracle_errors": len(outputs) - len(tilts),
        "n_geometry_scored": len(cds),
        "n_errors": sum(1 for r in rows if r["error"]),
    }


def summarize_rows(rows: Sequence[dict[str, Any]], angle: str = "tilt") -> dict[str, Any]:
    """{"overall": summary, "families": {family: summary}} (families sorted by name); Rot. is
    the mean of `angle` ("tilt" or "dso")."""
    families = sorted({r["family"] for r in rows})
    pieces = _pieces_analysed(rows)
    return {
        "overall": summarize(rows, pieces, angle),
        "families": {f: summarize([r for r in rows if r["family"] == f], pieces, angle)
                     for f in families},
    }
