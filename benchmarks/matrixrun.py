"""Run a matrix of no-op plugins through the harness, in-process (phases timed) or via the CLI.

In-process runs go through the same library calls as ``bench run --no-report`` without progress
bars (load + plugin check, prepare, Runner.run, then the rich cells/summary tables it prints), so
each phase can be timed on its own and the no-op plugins' own time subtracted. They use the local
executor's ``in_process`` mode, so that this time is counted in this process; `bench run` itself
runs jobs in a worker process (one more process start per run, and each job pickled). CLI runs are the
real ``bench run ... --no-report --quiet`` subprocess, as a user resumes a finished run.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import core

PLUGIN_MODULE = "benchmarks.noop_plugins"


def use_noop_plugins() -> None:
    """Only core's built-ins and the no-op plugins: installed heavy plugins stay out of the timing."""
    os.environ["BENCHBENCH_PLUGINS"] = ""
    os.environ["BENCHBENCH_PLUGIN_MODULES"] = PLUGIN_MODULE
    from benchbench.plugins import reset_plugins

    reset_plugins()


def cli_env() -> dict[str, str]:
    return core.base_env(BENCHBENCH_PLUGINS="", BENCHBENCH_PLUGIN_MODULES=PLUGIN_MODULE)


@dataclass
class MatrixRun:
    seconds: dict[str, float]  # wall: plan, run, report, total
    cpu_seconds: float  # this process's CPU time for the whole run: far less noisy than wall on a loaded box
    plugin_seconds: float  # time inside the no-op plugins
    evaluate_seconds: float  # sum of the cells' "evaluate" timings (COCO evaluation)
    results: dict[str, Any]
    prepared: Any
    generated: dict[str, int] = field(default_factory=dict)  # frames returned by the no-op generator

    @property
    def n_cells(self) -> int:
        return len(self.results["cells"])

    @property
    def harness_seconds(self) -> float:
        return self.seconds["total"] - self.plugin_seconds - self.evaluate_seconds


def run_in_process(matrix_file: Path, results_dir: Path, cache_dir: Path, run_name: str | None = None,
                   fresh: bool = False, cells_table: bool = True) -> MatrixRun:
    from rich.console import Console

    from benchbench.analysis.report import table
    from benchbench.method.matrix import check_plugins, load_matrix
    from benchbench.pipeline.runner import Runner, RunOptions, prepare
    from benchbench.plugins import get_plugins
    from benchbench.records.cache import Cache
    from benchmarks import noop_plugins

    spent_before = sum(noop_plugins.SPENT.values())
    generated_before = dict(noop_plugins.GENERATED)
    c0, t0 = time.process_time(), time.perf_counter()
    matrix, digest = load_matrix(matrix_file)
    plugins = get_plugins()
    check_plugins(matrix, str(matrix_file), plugins)
    prepared = prepare(matrix, str(matrix_file), digest, Cache(cache_dir), plugins)
    t1 = time.perf_counter()
    options = RunOptions(results_dir, cache_dir, fresh=fresh, executor="local",
                         executor_options={"in_process": True}, run_name=run_name)
    runner = Runner(prepared, options, plugins=plugins)
    summary = runner.run()
    t2 = time.perf_counter()
    # What `bench run` prints when not --quiet: the cells table and, with several seeds, the summary.
    console = Console(file=io.StringIO(), width=200)
    if cells_table:
        console.print(table.cells_table(summary.results["cells"], title=f"{matrix.name}: cells"))
    if len(matrix.seed) > 1:
        console.print(table.summary_table(summary.results["summary"]))
    t3, c3 = time.perf_counter(), time.process_time()
    if summary.failed:
        first = summary.results["cells"][0].get("error") if summary.results["cells"] else None
        raise RuntimeError(f"{len(summary.failed)} no-op cells failed, e.g. {first}")
    evaluate = sum(c.get("timings", {}).get("evaluate", 0.0) for c in summary.results["cells"]
                   if c.get("finished", "") >= summary.results["run"]["started"])
    generated = {k: v - generated_before.get(k, 0) for k, v in noop_plugins.GENERATED.items()}
    return MatrixRun({"plan": t1 - t0, "run": t2 - t1, "report": t3 - t2, "total": t3 - t0}, c3 - c0,
                     sum(noop_plugins.SPENT.values()) - spent_before, evaluate, summary.results, prepared,
                     generated)


def cli_args(matrix_file: Path, results_dir: Path, cache_dir: Path) -> list[str]:
    """`bench` arguments of a quiet run without plots, as a user resumes a finished run."""
    return ["run", str(matrix_file), "--results-dir", str(results_dir), "--cache-dir", str(cache_dir),
            "--no-report", "--quiet"]


def cli_command(matrix_file: Path, results_dir: Path, cache_dir: Path) -> list[str]:
    bench = core.venv_tool("bench")
    head = [str(bench)] if bench else [sys.executable, "-m", "benchbench.cli"]
    return [*head, *cli_args(matrix_file, results_dir, cache_dir)]


def run_cli(matrix_file: Path, results_dir: Path, cache_dir: Path, timeout: float = 600) -> tuple[float, float]:
    """(wall, CPU) seconds of one `bench run` subprocess; raises with its stderr when it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cli_command(matrix_file, results_dir, cache_dir), env=cli_env(), capture_output=True,
                          text=True, timeout=timeout, cwd=core.ROOT)
    dt = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"bench run exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
    return dt, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def read_results(results_dir: Path, name: str) -> dict[str, Any]:
    return json.loads((results_dir / name / "results.json").read_text())
