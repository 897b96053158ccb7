"""`dso data stats`: counts per prompt and family, stable fraction, prompts with mixed outcomes."""

from __future__ import annotations

from collections import defaultdict

from dso.data.store import SampleStore

_COUNT_KEYS = ("samples", "ok", "empty", "failed", "labelled", "stable", "unstable",
               "label_errors", "multi_piece")


def _fraction(stable: int, unstable: int) -> float | None:
    total = stable + unstable
    return stable / total if total else None


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _count(rec: dict) -> dict[str, int]:
    c = dict.fromkeys(_COUNT_KEYS, 0)
    c["samples"] = 1
    c[rec["status"]] = 1
    if rec["label_status"] == "ok":
        c["labelled"] = 1
        c["stable" if rec["stable"] else "unstable"] = 1
        c["multi_piece"] = int(rec.get("pieces") is not None and rec["pieces"] > 1)
    elif rec["label_status"] == "error":
        c["label_errors"] = 1
    return c


def _add(into: dict, c: dict) -> None:
    for k in _COUNT_KEYS:
        into[k] = into.get(k, 0) + c[k]


def dataset_stats(store: SampleStore) -> dict:
    """Counts overall, per family and per prompt; a prompt is mixed if it has both outcomes."""
    prompts = {p["prompt_id"]: p for p in store.prompts()}
    per_prompt: dict[str, dict] = {pid: dict.fromkeys(_COUNT_KEYS, 0) for pid in prompts}
    for rec in store.records():
        _add(per_prompt[rec["prompt_id"]], _count(rec))
    overall = dict.fromkeys(_COUNT_KEYS, 0)
    families: dict[str, dict] = defaultdict(lambda: {"prompts": 0, "mixed_prompts": 0})
    mixed = []
    for pid, c in per_prompt.items():
        c["mixed"] = bool(c["stable"] and c["unstable"])
        c["stable_fraction"] = _fraction(c["stable"], c["unstable"])
        fam = families[prompts[pid]["family"] or "-"]
        fam["prompts"] += 1
        fam["mixed_prompts"] += int(c["mixed"])
        _add(fam, c)
        _add(overall, c)
        if c["mixed"]:
            mixed.append(pid)
    for fam in families.values():
        fam["stable_fraction"] = _fraction(fam["stable"], fam["unstable"])
        fam["multi_piece_fraction"] = _share(fam["multi_piece"], fam["labelled"])
    overall.update(prompts=len(prompts), mixed_prompts=len(mixed),
                   prompts_generated=sum(1 for c in per_prompt.values() if c["samples"]),
                   stable_fraction=_fraction(overall["stable"], overall["unstable"]),
                   multi_piece_fraction=_share(overall["multi_piece"], overall["labelled"]))
    return {
        "dataset": str(store.root), "meta": store.meta(), "overall": overall,
        "families": dict(sorted(families.items())),
        "prompts": [{"prompt_id": pid, "family": prompts[pid]["family"], **c}
                    for pid, c in per_prompt.items()],
        "mixed_prompt_ids": mixed,
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _table(header: list[str], rows: list[list]) -> list[str]:
    cells = [header] + [[str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    fmt = lambda r: "  ".join(v.ljust(w) if i == 0 else v.rjust(w)  # noqa: E731
                              for i, (v, w) in enumerate(zip(r, widths, strict=True)))
    return [fmt(cells[0]), fmt(["-" * w for w in widths])] + [fmt(r) for r in cells[1:]]


def format_stats(stats: dict, max_prompts: int | None = 20) -> str:
    """Human-readable tables: per family (with a total row), then per prompt."""
    cols = ["samples", "ok", "empty", "failed", "labelled", "stable", "unstable",
            "label_errors"]
    meta = stats["meta"]
    lines = [f"dataset {stats['dataset']}  generator {meta.get('generator', '?')}  "
             f"n {meta.get('n', '?')}  seed {meta.get('seed', '?')}", ""]
    fam_rows = [[name, f["prompts"], *(f[c] for c in cols), _pct(f["stable_fraction"]),
                 _pct(f["multi_piece_fraction"]), f["mixed_prompts"]]
                for name, f in stats["families"].items()]
    o = stats["overall"]
    fam_rows.append(["total", o["prompts"], *(o[c] for c in cols), _pct(o["stable_fraction"]),
                     _pct(o["multi_piece_fraction"]), o["mixed_prompts"]])
    lines += _table(["family", "prompts", *cols, "stable%", "multi-piece%", "mixed"], fam_rows)
    shown = stats["prompts"] if max_prompts is None else stats["prompts"][:max_prompts]
    lines += [""] + _table(
        ["prompt", "family", "samples", "ok", "stable", "unstable", "errors", "mixed"],
        [[p["prompt_id"], p["family"] or "-", p["samples"], p["ok"], p["stable"], p["unstable"],
          p["label_errors"] + p["failed"], "yes" if p["mixed"] else ""] for p in shown])
    if len(shown) < len(stats["prompts"]):
        lines.append(f"... {len(stats['prompts']) - len(shown)} more prompts (--all to list)")
    return "\n".join(lines)
