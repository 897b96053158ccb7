"""Human-readable tables of oracle results."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from dso.physics.result import CheckResult

MAX_ROWS = 100  # beyond this many meshes only the summary and the failures are listed


def _num(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None or not math.isfinite(value) else fmt.format(value)


def _pieces(r: CheckResult) -> str:
    """Significant pieces, with "+N" debris pieces dropped; "-" when not analysed."""
    if r.pieces is None:
        return "-"
    return f"{r.pieces}+{r.debris_pieces}" if r.debris_pieces else str(r.pieces)


def result_rows(results: Sequence[CheckResult]) -> list[str]:
    """One line per mesh: verdict, angles, mass source, wall time."""
    names = [r.path or f"#{i}" for i, r in enumerate(results)]
    width = min(48, max([4] + [len(n) for n in names]))
    head = (f"{'mesh':<{width}}  {'verdict':<8} {'tilt':>6} {'dso':>6} {'margin':>7} "
            f"{'pieces':>6} {'mass':<8} {'ms':>7}")
    rows = [head, "-" * len(head)]
    for name, r in zip(names, results, strict=True):
        rows.append(f"{name[-width:]:<{width}}  {r.verdict:<8} {_num(r.tilt_deg):>6} "
                    f"{_num(r.dso_angle_deg):>6} {_num(r.com_margin, '{:.3f}'):>7} "
                    f"{_pieces(r):>6} {r.mass_source or '-':<8} "
                    f"{_num(r.seconds * 1e3, '{:.0f}'):>7}")
    return rows


def summary_lines(results: Sequence[CheckResult]) -> list[str]:
    """Count, % stable, the stable ones' median tilt, failures (with their messages)."""
    ok = [r for r in results if r.status == "ok"]
    failed = [r for r in results if r.status != "ok"]
    lines = [] if len(results) > MAX_ROWS else result_rows(results) + [""]
    if ok:
        tilts = [r.tilt_deg for r in ok if r.stable]  # a mean over fallen ones means nothing
        median = (f"; median tilt of the stable ones {statistics.median(tilts):.2f} deg"
                  if tilts else "")
        lines.append(f"{len(results)} meshes: {len(ok)} evaluated, {len(tilts)} stable "
                     f"({100.0 * len(tilts) / len(ok):.1f}%), {len(failed)} failed{median}")
        analysed = [r for r in ok if r.pieces is not None]
        if analysed:
            multi = sum(1 for r in analysed if r.pieces > 1)
            debris = sum(1 for r in analysed if r.debris_pieces)
            lines.append(f"pieces: {multi} multi-piece ({100.0 * multi / len(analysed):.1f}%, "
                         f"unstable for that reason), {debris} with debris dropped")
        decimated = [r for r in ok if r.decimated]
        if decimated:
            lines.append(f"{len(decimated)} decimated to the face cap (--max-faces) before the "
                         f"check: {', '.join(r.path or '(in-memory mesh)' for r in decimated[:5])}"
                         + (", ..." if len(decimated) > 5 else ""))
    else:
        lines.append(f"{len(results)} meshes: none could be evaluated")
    for i, r in enumerate(failed):
        if i == 20:
            lines.append(f"  ... and {len(failed) - 20} more failures")
            break
        where = r.path or "(in-memory mesh)"
        message = r.error or "unknown error"
        lines.append(f"  failed: {message if message.startswith(where) else f'{where}: {message}'}")
    return lines
