"""``python -m benchmarks`` (``make bench``): run the suite, write benchmarks/results/<date>-<commit>.json.

Each benchmark runs in its own worker process (``benchmarks.worker``); this process only
schedules them, collects their JSON, writes the results file atomically and prints the table.
Exit status: 0 when every benchmark ran (targets missed or not), 1 when one errored, or, with
--strict, when a target was missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import core
from benchmarks.registry import BENCHMARKS, Spec

DEFAULT_OUT = core.ROOT / "benchmarks" / "results"


def run_worker(name: str, spec: Spec, quick: bool, profile: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"benchbench-suite-{name}-") as tmp:
        out = Path(tmp) / "result.json"
        argv = [sys.executable, "-m", "benchmarks.worker", name, "--out", str(out)]
        argv += ["--quick"] * quick + ["--no-profile"] * (not profile)
        t = time.perf_counter()
        try:
            proc = subprocess.run(argv, env=core.base_env(**spec.env), capture_output=True, text=True,
                                  timeout=spec.timeout_s, cwd=core.ROOT)
            log = (proc.stdout + proc.stderr).strip()
        except subprocess.TimeoutExpired as exc:
            return _failed(name, f"timed out after {spec.timeout_s} s", str(exc.stderr or "")[-2000:],
                           time.perf_counter() - t)
        if not out.exists():
            return _failed(name, f"worker exited {proc.returncode} without a result", log[-2000:],
                           time.perf_counter() - t)
        return json.loads(out.read_text())


def _failed(name: str, error: str, log: str, seconds: float) -> dict[str, Any]:
    return {"name": name, "status": "error", "seconds": seconds, "figures": [], "notes": [log] if log else [],
            "profiles": {}, "before_after": [], "error": error}


def summarize(benchmarks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    figs = [f for b in benchmarks.values() for f in b["figures"]]
    return {"figures": len(figs), "met": sum(f["met"] is True for f in figs),
            "not_met": sum(f["met"] is False for f in figs),
            "info": sum(f["met"] is None and not f["skipped"] for f in figs),
            "skipped": sum(bool(f["skipped"]) for f in figs),
            "errors": sum(b["status"] != "ok" for b in benchmarks.values()),
            "missed": [f"{f['benchmark']}: {f['name']}" for f in figs if f["met"] is False]}


def results_path(out_dir: Path, date: str, commit: str | None, quick: bool, only: list[str] | None) -> Path:
    """<date>-<commit>.json for a full run; smoke and partial runs get a suffix so they never
    overwrite the full record of that commit."""
    stem = f"{date}-{(commit or 'nocommit')[:12]}"
    if quick:
        stem += "-quick"
    if only:
        stem += "-only-" + "-".join(only)
    return out_dir / f"{stem}.json"


def write_atomic(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description="benchbench performance suite "
                                 "(see benchmarks/README.md)")
    ap.add_argument("--quick", action="store_true", help="shrink every size for a smoke run (figures are not "
                    "comparable with a full run)")
    ap.add_argument("--only", action="append", choices=list(BENCHMARKS), metavar="NAME",
                    help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder (default: benchmarks/results)")
    ap.add_argument("--no-profile", action="store_true", help="do not profile figures that miss their target")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is not met")
    args = ap.parse_args(argv)

    from rich.console import Console

    from benchmarks.table import suite_table

    log = Console(stderr=True)
    names = [n for n in BENCHMARKS if not args.only or n in args.only]
    started = datetime.now(UTC)
    doc: dict[str, Any] = {
        "schema_version": core.SCHEMA_VERSION, "suite": "benchbench-benchmarks", "date": started.date().isoformat(),
        "commit": core.git_commit(), "started": started.isoformat(), "finished": None, "quick": args.quick,
        "only": args.only, "argv": sys.argv[1:] if argv is None else argv,
        "machine": core.machine() | {"load_average_start": core.load_average()}, "benchmarks": {}}
    for name in names:
        spec = BENCHMARKS[name]
        log.print(f"[bold]{name}[/bold]: {spec.title} …")
        res = run_worker(name, spec, args.quick, not args.no_profile)
        res["load_average_after"] = core.load_average()
        doc["benchmarks"][name] = res
        status = "[green]ok[/green]" if res["status"] == "ok" else f"[red]error: {res['error']}[/red]"
        log.print(f"  {status} in {res['seconds']:.1f} s")
    doc["finished"] = datetime.now(UTC).isoformat()
    doc["machine"]["load_average_end"] = core.load_average()
    loads = [x for x in (doc["machine"]["load_average_start"], doc["machine"]["load_average_end"]) if x]
    doc["loaded"] = bool(loads) and max(x[0] for x in loads) > 0.75 * (os.cpu_count() or 1)
    doc["summary"] = summarize(doc["benchmarks"])
    path = results_path(args.out, doc["date"], doc["commit"], args.quick, args.only)
    write_atomic(path, doc)
    out = Console()
    if not out.is_terminal:  # piped or redirected (make bench | tee): do not squeeze the table into 80 columns
        out = Console(width=200)
    out.print(suite_table(doc))
    log.print(f"results → {path}")
    if doc["summary"]["errors"]:
        return 1
    return 1 if args.strict and doc["summary"]["not_met"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
