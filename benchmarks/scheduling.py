"""Worker utilisation on a matrix with one long cell and several short ones (issue #16).

Two local worker processes run a matrix of no-op plugins whose detector fit sleeps (no CPU): one
"long" real-only cell and a "short" row (its baseline and four synthetic cells). Utilisation is
busy-worker-seconds / (workers x wall), over the cells (generation is instant here), from the
first cell's start to the last cell's end, both read from the cells' own timestamps.

Reference, in the same run: the same matrix scheduled stage by stage, as before dependency
scheduling (all generation, then all baselines, then teacher labels, then every other cell),
expressed by adding those barriers to the same runner's jobs. The ideal is the utilisation of a
schedule that no dependency or job length could improve: wall = max(longest chain, busy / workers).
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks import matrixrun
from benchmarks.core import BenchResult, Figure

NAME = "scheduling"
WORKERS = 2

MATRIX = """\
name: {name}
seed: [0]
data: {{dataset: noopdata, n: 24, size: 16}}
split: {{test_fraction: 0.3}}
generators:
  - {{name: g, plugin: noopgen}}
detectors:
  - {{name: long, plugin: noopdet, sleep: {long}, generators: []}}
  - {{name: short, plugin: noopdet, sleep: {short}}}
axes: {{synthetic_ratio: [0, 0.5, 1], guidance: [5, 7.5]}}
labeler: generator
metrics: {{bootstrap: 0}}
samples: 0
"""


def _staged(runner_cls: type) -> type:
    """The runner with the old stage barriers added to its jobs' dependencies."""

    class Staged(runner_cls):  # type: ignore[misc, valid-type]
        def _jobs(self, pending, keys):
            jobs = super()._jobs(pending, keys)
            baselines = {f"cell:{c.id}" for c in self.p.plan.cells if c.baseline}
            stage = [[j for j in jobs if j.key.startswith("gen:")], [j for j in jobs if j.key in baselines],
                     [j for j in jobs if j.key.startswith("label:")]]
            stage.append([j for j in jobs if not any(j in s for s in stage)])
            for k, now in enumerate(stage):  # every earlier stage, so an empty one opens no barrier
                earlier = [b.key for s in stage[:k] for b in s]
                for j in now:
                    j.after = (*j.after, *earlier)
            return jobs

    return Staged


def _run(matrix_file: Path, work: Path, staged: bool) -> dict[str, Any]:
    from benchbench.method.matrix import load_matrix
    from benchbench.pipeline.runner import Runner, RunOptions, prepare
    from benchbench.records.cache import Cache

    matrix, digest = load_matrix(matrix_file)
    prepared = prepare(matrix, str(matrix_file), digest, Cache(work / "cache"))
    runner_cls = _staged(Runner) if staged else Runner
    opts = RunOptions(work / "results", work / "cache", fresh=True, executor="local",
                      executor_options={"workers": WORKERS}, run_name="staged" if staged else "deps")
    summary = runner_cls(prepared, opts).run()
    if summary.failed:
        raise RuntimeError(f"cells failed: {summary.failed}")
    cells = summary.results["cells"]
    spans = [(datetime.fromisoformat(c["started"]), datetime.fromisoformat(c["finished"])) for c in cells]
    wall = (max(e for _, e in spans) - min(s for s, _ in spans)).total_seconds()
    busy = sum((e - s).total_seconds() for s, e in spans)
    longest = max((e - s).total_seconds() for s, e in spans)
    return {"wall_s": wall, "busy_s": busy, "utilisation": busy / (WORKERS * wall), "longest_cell_s": longest,
            "ideal": busy / (WORKERS * max(longest, busy / WORKERS)), "n_cells": len(cells)}


def run(quick: bool = False, profile: bool = True) -> BenchResult:
    matrixrun.use_noop_plugins()
    res = BenchResult(NAME)
    long_s, short_s = (3.0, 0.5) if quick else (8.0, 1.5)
    work = Path(tempfile.mkdtemp(prefix="benchbench-sched-"))
    try:
        m = work / "m.yaml"
        m.write_text(MATRIX.format(name="sched", long=long_s, short=short_s))
        deps = _run(m, work, staged=False)
        staged = _run(m, work, staged=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    res.notes.append(f"{WORKERS} local workers; one {long_s:g} s real-only cell, a row of {deps['n_cells'] - 1} "
                     f"{short_s:g} s cells (baseline + 2 ratios x 2 guidances); fit sleeps, so CPU load hardly "
                     "matters")
    res.add(Figure(NAME, "worker utilisation, dependency scheduling", deps["utilisation"], "fraction",
                   "stage-by-stage scheduling (same matrix, same run)", staged["utilisation"], higher_is_better=True,
                   target="> stage by stage, and >= 0.85 x ideal",
                   met=deps["utilisation"] > staged["utilisation"] and deps["utilisation"] >= 0.85 * deps["ideal"],
                   details={"dependency": deps, "stage_by_stage": staged}))
    res.add(Figure(NAME, "wall time of the cells, dependency scheduling", deps["wall_s"], "s",
                   "stage-by-stage scheduling", staged["wall_s"],
                   details={"ideal_wall_s": max(deps["longest_cell_s"], deps["busy_s"] / WORKERS)}))
    return res
