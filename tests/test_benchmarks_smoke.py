"""Smoke test of the performance suite (benchmarks/): it runs and writes a well-formed results file.

Deliberately no timing asserts: the figures depend on the machine and its load.
"""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
import sys
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
FIGURE_KEYS = {"benchmark", "name", "value", "unit", "reference", "reference_value", "ratio", "higher_is_better",
               "target", "met", "skipped", "details"}


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def test_quick_harness_benchmark_writes_results(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only", "harness", "--no-profile",
                           "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1, files
    # partial smoke runs never take the name of a full run's record
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}-([0-9a-f]{12}|nocommit)-quick-only-harness\.json", files[0].name)
    doc = json.loads(files[0].read_text())
    assert {"schema_version", "suite", "date", "commit", "started", "finished", "quick", "only", "machine",
            "benchmarks", "summary", "loaded"} <= set(doc)
    assert doc["quick"] is True and doc["only"] == ["harness"] and list(doc["benchmarks"]) == ["harness"]
    bench = doc["benchmarks"]["harness"]
    assert bench["status"] == "ok", bench["error"]
    figs = {f["name"].split(" (")[0]: f for f in bench["figures"]}
    assert set(figs) == {"harness overhead per cell", "COCO evaluation per cell",
                         "resume of the finished 34-cell run"}
    for fig in bench["figures"]:
        assert set(fig) == FIGURE_KEYS, fig["name"]
        assert not fig["skipped"]
        for key in ("value", "reference_value", "ratio"):
            assert _finite(fig[key]) and fig[key] >= 0, (fig["name"], key, fig[key])
    # targets are judged (met is a bool) where the issue sets one; the evaluation cost is informational
    assert isinstance(figs["harness overhead per cell"]["met"], bool)
    assert isinstance(figs["resume of the finished 34-cell run"]["met"], bool)
    assert figs["COCO evaluation per cell"]["met"] is None
    overhead = figs["harness overhead per cell"]["details"]
    assert overhead["cells"] == 34 and overhead["frames_generated"] > 0
    assert all(_finite(v) for v in overhead["seconds"].values())
    assert figs["resume of the finished 34-cell run"]["details"]["cells_recomputed"] == 0
    s = doc["summary"]
    assert s["figures"] == 3 and s["met"] + s["not_met"] + s["info"] + s["skipped"] == 3 and s["errors"] == 0
    assert "harness" in proc.stdout  # the rich table went to stdout


def test_table_renders_every_kind_of_figure() -> None:
    from benchmarks.__main__ import summarize
    from benchmarks.core import BenchResult, Figure
    from benchmarks.table import suite_table

    res = BenchResult("demo", figures=[
        Figure("demo", "met", 0.1, "s", "ref", 1.0, target="<= 0.3 s", met=True),
        Figure("demo", "missed", 2.0, "ms", "ref", 1.0, target="< 1 ms", met=False),
        Figure("demo", "info", 5.0, "frames/s", "ref", 10.0, higher_is_better=True),
        Figure("demo", "skipped", None, "images/s", "ref", None, skipped="not installed")])
    benchmarks = {"demo": res.to_dict(), "broken": {**BenchResult("broken", status="error", error="boom").to_dict()}}
    doc = {"date": "2000-01-01", "commit": None, "quick": True, "benchmarks": benchmarks,
           "summary": summarize(benchmarks), "loaded": True,
           "machine": {"load_average_start": [1.0, 1.0, 1.0], "load_average_end": None, "cpu_count": 2}}
    assert doc["summary"] | {"missed": None} == {"figures": 4, "met": 1, "not_met": 1, "info": 1, "skipped": 1,
                                                 "errors": 1, "missed": None}
    out = io.StringIO()
    Console(file=out, width=250).print(suite_table(doc))
    text = out.getvalue()
    for word in ("not met", "info", "skipped", "error", "boom", "0.1×", "2.000 ms"):
        assert word in text, word


def test_generation_reference_counts_follow_the_design_formulas() -> None:
    from benchmarks.generation import GUIDANCE, RATIOS, SEEDS, expected

    nested, naive = expected(42)
    tasks = len(GUIDANCE) * len(SEEDS)
    assert nested == tasks * round(max(RATIOS) * 42)
    assert naive == tasks * sum(round(r * 42) for r in RATIOS) and naive > nested
