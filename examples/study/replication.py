"""The same cells computed on two machines: a committed summary against an archive's records.

    python examples/study/replication.py examples/study/results/flyd-s-cv-physics-summary.json \
        examples/study/archive/flyd-s-cv [--metric AP10]

For every cell in both (same id; the archive's key is the cell's definition), prints the metric on each
machine, and for every synthetic cell the per-specimen Δ against its real-only baseline on each. A
fit that is bit-identical on one machine can differ on another (docs/results.md, run.environment.cpu):
this shows by how much, and whether the Δs the verdict rests on move with it.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from summarize import specimens, values  # this folder's: the same reading of a cell record as the summaries

from benchbench.records.ids import cell_id


def _baseline(detector: str, seed: int, budget: str, fold: int | None) -> str:
    """The real-only cell a synthetic cell is compared with (same detector, seed, budget, fold)."""
    return cell_id(detector, None, None, 0.0, seed, budget, fold)


def _archived(folder: Path, metric: str) -> dict[str, dict]:
    out = {}
    for path in sorted((folder / "cells").glob("*.json")):
        rec = json.loads(path.read_text())
        cell = rec["cell"]
        out[rec["id"]] = {"value": values(rec.get("metrics") or {})[metric],
                          "baseline": _baseline(cell["detector"], cell["seed"], cell["budget"], rec.get("fold")),
                          "by_specimen": {g: v[metric] for g, v in specimens(rec).items()}}
    return out


def _committed(summary: Path, metric: str) -> dict[str, dict]:
    return {c["id"]: {"value": c["metrics"].get(metric),
                      "baseline": _baseline(c["detector"], c["seed"], c["budget"]["mode"], c.get("fold")),
                      "by_specimen": {g: v.get(metric) for g, v in (c.get("by_specimen") or {}).items()}}
            for c in json.loads(summary.read_text())["cells"] if c["status"] == "ok"}


def compare(a: dict[str, dict], b: dict[str, dict]) -> dict:
    both = sorted(set(a) & set(b))
    cells = [{"id": i, "a": a[i]["value"], "b": b[i]["value"]} for i in both]
    deltas = []
    for i in both:
        base = a[i]["baseline"]
        if base == i or base not in a or base not in b:
            continue
        for g, v in a[i]["by_specimen"].items():
            vb, ba, bb = b[i]["by_specimen"].get(g), a[base]["by_specimen"].get(g), b[base]["by_specimen"].get(g)
            if None not in (v, vb, ba, bb):
                deltas.append({"id": i, "specimen": g, "a": v - ba, "b": vb - bb})
    diffs = [abs(c["a"] - c["b"]) for c in cells if None not in (c["a"], c["b"])]
    return {"cells": cells, "deltas": deltas,
            "identical": sum(d == 0 for d in diffs), "n": len(diffs),
            "median_abs_diff": statistics.median(diffs) if diffs else None,
            "max_abs_diff": max(diffs) if diffs else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("summary", type=Path, help="a committed *-summary.json (examples/study/summarize.py)")
    ap.add_argument("archive", type=Path, help="an archive folder (bench run --archive)")
    ap.add_argument("--metric", default="AP10")
    ap.add_argument("--json", type=Path, help="also write the comparison here")
    args = ap.parse_args()
    res = compare(_committed(args.summary, args.metric), _archived(args.archive, args.metric))
    for c in res["cells"]:
        print(f"{c['id']:42s} {args.metric} {c['a']:.3f} -> {c['b']:.3f}")
    for d in res["deltas"]:
        print(f"{d['id']:42s} {d['specimen']:8s} Δ {d['a']:+.3f} -> {d['b']:+.3f}")
    print(f"{res['n']} cells on both machines, {res['identical']} identical; |difference| median "
          f"{res['median_abs_diff']}, max {res['max_abs_diff']}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
