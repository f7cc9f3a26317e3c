"""Write a study run's committed summary: every cell's per-specimen, per-seed metrics, the run's
environment and declared analysis, and its answer.json — what every README/docs figure traces to.

    python examples/study/summarize.py results/flyd-s-cv-classic examples/study/results/flyd-s-cv-classic

writes ``<out>-summary.json`` and ``<out>-answer.json``. A run still in progress is summarised as far as it
got (``run.complete`` says so); run it again after resuming.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

METRICS = ("AP10", "AP30", "hit_AP", "mAP50", "mAP50_95")


def values(metrics: dict) -> dict[str, float | None]:
    """Point values of METRICS from a cell's (or one specimen's) metrics; hit AP lives with the mask scores."""
    def value(m: str):
        v = (metrics.get("masks") or {}).get("hit_AP") if m == "hit_AP" else metrics.get(m)
        return v.get("value") if isinstance(v, dict) else v
    return {m: value(m) for m in METRICS}


def specimens(cell: dict) -> dict[str, dict[str, float | None]]:
    return {g: values(v) for g, v in ((cell.get("metrics") or {}).get("groups") or {}).items()}


def _quality(scores: dict) -> list[dict]:
    """Per fold (one entry for a plain split): the quality bar of issue #23 and, beside it, what the
    held-out real test frames score the same way (the cracked frames' cnn FD, coverage and the share the
    teacher recognises)."""
    def crack(row: dict) -> dict:
        cnn = ((row.get("scores") or {}).get("cnn") or {}).get("crack") or {}
        return {"fd": cnn.get("fd"), "coverage": cnn.get("coverage")}
    folds = scores.get("folds") or ([scores] if scores.get("quality") else [])
    return [{"fold": f.get("fold"), "test_groups": f.get("test_groups"), "quality": f.get("quality"),
             "real_test_frames": {**crack(f.get("reference") or {}),
                                  "recognised": ((f.get("quality") or {}).get("real_test") or {}).get("recognised")}}
            for f in folds]


def summarize(run_dir: Path) -> dict:
    results = json.loads((run_dir / "results.json").read_text())
    run = results["run"]
    cells = [{"id": c["id"], "status": c["status"], "detector": c["cell"]["detector"],
              "generator": c["cell"].get("generator"), "ratio": c["cell"]["ratio"], "seed": c["cell"]["seed"],
              "fold": c.get("fold"), "test_groups": c.get("test_groups"), "budget": c.get("budget"),
              "synthetic_in_training": c.get("synthetic_in_training"),
              "fit_s": (c.get("timings") or {}).get("fit"), "runtime": c.get("runtime"),
              "metrics": values(c.get("metrics") or {}),
              "by_specimen": specimens(c), "curve": [{k: p.get(k) for k in ("steps", "epochs", *METRICS)}
                                                       for p in c.get("curve") or []]}
             for c in results["cells"]]
    return {"note": "written by examples/study/summarize.py from the run folder's results.json",
            "generator_quality": _quality(results.get("generator_scores") or {}),
            "run": {k: run.get(k) for k in ("name", "matrix_file", "matrix_sha256", "git_commit", "started",
                                             "finished", "complete", "folds", "environment")}
            | {"answer": (run.get("matrix") or {}).get("answer")},
            "cells": cells}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    run_dir, out = Path(argv[0]), argv[1]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(f"{out}-summary.json").write_text(json.dumps(summarize(run_dir), indent=1) + "\n")
    answer = run_dir / "answer.json"
    if answer.exists():
        Path(f"{out}-answer.json").write_text(answer.read_text())
    print(f"{out}-summary.json" + (f", {out}-answer.json" if answer.exists() else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
