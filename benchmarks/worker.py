"""Run one benchmark in this (fresh) process and write its result as JSON.

The suite starts one worker per benchmark so that imports (torch, pycocotools), threads and
memory of one benchmark never bias another, and a crash loses only that benchmark.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
import traceback
from pathlib import Path

from benchmarks.core import BenchResult
from benchmarks.registry import BENCHMARKS


def run_one(name: str, quick: bool, profile: bool) -> BenchResult:
    t = time.perf_counter()
    try:
        res = importlib.import_module(BENCHMARKS[name].module).run(quick=quick, profile=profile)
    except Exception as exc:  # recorded, not raised: the other benchmarks still run
        res = BenchResult(name, status="error", error=f"{type(exc).__name__}: {exc}".splitlines()[0])
        res.notes.append(traceback.format_exc()[-2000:])
    res.seconds = time.perf_counter() - t
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    ap.add_argument("name", choices=sorted(BENCHMARKS))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-profile", action="store_true")
    args = ap.parse_args(argv)
    res = run_one(args.name, args.quick, not args.no_profile)
    args.out.write_text(json.dumps(res.to_dict(), indent=2, default=str))
    return 0 if res.status == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
