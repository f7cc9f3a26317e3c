"""Item 3: harness overhead on a 200-cell matrix of no-op plugins, and resume of the finished run.

harness seconds = wall time of (load + plugin check + prepare, Runner.run, cells/summary tables)
                  - time inside the no-op plugins - the cells' COCO evaluation time.
The evaluation is reported on its own (metrics.bootstrap is 0 here, so it is two CocoEval
matchings per cell). The reference is a bare loop doing the same plugin calls and the same
evaluation with nothing planned, cached, stored or resumed: what a hand-written script costs.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import core, matrixrun, whatif
from benchmarks.core import BenchResult, Figure

NAME = "harness"
TARGET_MS = 30.0
TARGET_RESUME_S = 2.0

# 4 seeds x (2 baselines + 2 generators x 3 guidances x 4 ratios x 2 detectors) = 200 cells.
MATRIX = """\
name: {name}
seed: {seeds}
data: {{dataset: noopdata, n: 40, size: 16}}
split: {{test_fraction: 0.3}}
generators:
  - {{name: ga, plugin: noopgen}}
  - {{name: gb, plugin: noopgen}}
detectors:
  - {{name: da, plugin: noopdet}}
  - {{name: db, plugin: noopdet}}
axes: {{synthetic_ratio: [0, 0.25, 0.5, 0.75, 1.0], guidance: {guidance}}}
labeler: generator
metrics: {{bootstrap: 0}}
samples: 0
"""


def write_matrix(folder: Path, quick: bool, warmup: bool = False) -> Path:
    # --quick: 1 seed x 2 guidances = 34 cells, enough to exercise every phase in a smoke run;
    # warm-up: 1 seed x 1 guidance = 18 cells.
    seeds, guidance = ([0], [5]) if warmup else ([0], [5, 7.5]) if quick else ([0, 1, 2, 3], [5, 7.5, 10])
    path = folder / "harness.yaml"
    path.write_text(MATRIX.format(name="harness", seeds=seeds, guidance=guidance))
    return path


def bare_loop(prepared) -> tuple[float, float]:
    """(wall, CPU) seconds for the plan's cells done by hand: generate once per task, fit, predict, evaluate."""
    from benchbench.api import CellContext, FrameSet, GenerationRequest
    from benchbench.method.evaluation import evaluate_predictions
    from benchmarks.noop_plugins import NoopDetector, NoopGenerator

    m = prepared.matrix
    with tempfile.TemporaryDirectory(prefix="benchbench-bare-") as tmp:
        c, t = time.process_time(), time.perf_counter()
        synthetic: dict[str, tuple[list, list]] = {}
        gen = NoopGenerator()
        size = prepared.train[0].width  # the runner asks generators for the real frames' size
        for task in prepared.plan.gen_tasks:
            ctx = CellContext(task.id, task.seed, Path(tmp), Path(tmp))
            synthetic[task.id] = tuple(  # type: ignore[assignment]
                gen.generate(GenerationRequest(label, n, task.guidance, task.seed, size), ctx)
                for label, n in (("crack", task.n_pos), ("sane", task.n_neg)))
        for cell in prepared.plan.cells:
            train = prepared.train
            if not cell.baseline:
                pos, neg = synthetic[cell.gen_task_id]
                train = train + FrameSet(pos[:cell.n_syn_pos] + neg[:cell.n_syn_neg])
            ctx = CellContext(cell.id, cell.seed, Path(tmp), Path(tmp))
            det = NoopDetector()
            det.fit(train, None, ctx)
            preds = det.predict(prepared.test, ctx)
            evaluate_predictions(prepared.test, preds, iou_thresholds=m.metrics.iou_thresholds,
                                 score_threshold=m.metrics.score_threshold, n_boot=0)
        return time.perf_counter() - t, time.process_time() - c


def what_ifs(matrix: Path, work: Path) -> list[dict[str, Any]]:
    """The overhead again with each recommended fix patched in (see benchmarks/whatif.py), each next
    to an unpatched control run made just before it (same process state, similar load)."""
    out = []
    for name, (where, change, patch, kwargs) in whatif.WHAT_IFS.items():
        control = matrixrun.run_in_process(matrix, work / f"{name}-control" / "results",
                                           work / f"{name}-control" / "cache")
        row: dict[str, Any] = {"figure": "harness overhead per cell", "what_if": name, "where": where,
                               "change": change, "applied": False, "unit": "ms",
                               "before": 1000 * control.harness_seconds / control.n_cells}
        try:
            with patch():
                after = matrixrun.run_in_process(matrix, work / name / "results", work / name / "cache", **kwargs)
            row["after"] = 1000 * after.harness_seconds / after.n_cells
        except Exception as exc:  # the patched internals moved: say so, keep the benchmark
            row["after"], row["unavailable"] = None, f"{type(exc).__name__}: {exc}"
        out.append(row)
    return out


def run(quick: bool = False, profile: bool = True) -> BenchResult:
    matrixrun.use_noop_plugins()
    res = BenchResult(NAME)
    work = Path(tempfile.mkdtemp(prefix="benchbench-harness-"))
    try:
        _measure(res, work, quick, profile)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return res


def _measure(res: BenchResult, work: Path, quick: bool, profile: bool) -> None:
    # Warm-up on a small matrix: one-time imports belong to start-up, not to per-cell harness work.
    (work / "warmup").mkdir()
    matrixrun.run_in_process(write_matrix(work / "warmup", quick, warmup=True), work / "warmup" / "results",
                             work / "warmup" / "cache")
    matrix = write_matrix(work, quick)
    results_dir, cache_dir = work / "results", work / "cache"
    first = matrixrun.run_in_process(matrix, results_dir, cache_dir)
    n = first.n_cells
    if not all(c["info"].get("n_train", 0) >= first.results["run"]["data"]["n_train"]
               for c in first.results["cells"]):
        raise RuntimeError("a no-op cell got a smaller training set than planned")
    bare, bare_cpu = bare_loop(first.prepared)
    harness_ms = 1000 * first.harness_seconds / n
    # CPU view, steadier under load: what the run costs beyond the bare loop's identical calls.
    # It leaves out I/O waits (fsync), which the wall-clock figure includes.
    harness_cpu_ms = 1000 * (first.cpu_seconds - bare_cpu) / n
    overhead = res.add(Figure(
        NAME, f"harness overhead per cell ({n} cells)", harness_ms, "ms", "bare loop (no harness)", 1000 * bare / n,
        target=f"< {TARGET_MS:g} ms/cell", met=harness_ms < TARGET_MS,
        details={"cells": n, "seconds": {k: round(v, 4) for k, v in first.seconds.items()},
                 "cpu_seconds": round(first.cpu_seconds, 4), "bare_loop_cpu_seconds": round(bare_cpu, 4),
                 "harness_cpu_ms_per_cell": harness_cpu_ms, "met_on_cpu_time": harness_cpu_ms < TARGET_MS,
                 "plugin_seconds": round(first.plugin_seconds, 4),
                 "evaluate_seconds": round(first.evaluate_seconds, 4), "bare_loop_seconds": round(bare, 4),
                 "frames_generated": sum(first.generated.values())}))
    res.add(Figure(NAME, "COCO evaluation per cell (bootstrap 0)", 1000 * first.evaluate_seconds / n, "ms",
                   "bare loop (no harness)", 1000 * bare / n,
                   details={"note": "two CocoEval matchings per cell (IoU .5:.95 and the low-IoU thresholds); "
                            "excluded from the overhead above"}))

    started = [c["finished"] for c in first.results["cells"]]
    in_process = matrixrun.run_in_process(matrix, results_dir, cache_dir)
    runs = 1 if quick else 3
    cli = [matrixrun.run_cli(matrix, results_dir, cache_dir) for _ in range(runs)]
    again = matrixrun.read_results(results_dir, "harness")
    recomputed = sum(a["finished"] != b for a, b in zip((c for c in again["cells"]), started, strict=True))
    if recomputed or again["run"]["generation"]["generated"]:
        raise RuntimeError(f"resume recomputed {recomputed} cells / regenerated frames")
    cli_stats = core.summary_stats([wall for wall, _ in cli])
    cli_stats["cpu_median"] = statistics.median(cpu for _, cpu in cli)
    resume = res.add(Figure(
        NAME, f"resume of the finished {n}-cell run (`bench run`, CLI)", cli_stats["median"], "s",
        "first run (in-process)", first.seconds["total"], target=f"< {TARGET_RESUME_S:g} s",
        met=cli_stats["median"] < TARGET_RESUME_S,
        details={"cli": cli_stats, "in_process_seconds": {k: round(v, 4) for k, v in in_process.seconds.items()},
                 "command": " ".join(matrixrun.cli_command(matrix, results_dir, cache_dir)),
                 "cells_recomputed": recomputed, "met_on_cpu_time": cli_stats["cpu_median"] < TARGET_RESUME_S}))

    if profile and overhead.met is False:
        fresh = work / "profile-overhead"
        res.profiles[overhead.name] = core.profile_call(
            lambda: matrixrun.run_in_process(matrix, fresh / "results", fresh / "cache"))
        res.before_after += what_ifs(matrix, work)
    if profile and resume.met is False:
        res.profiles[resume.name] = core.profile_module(
            ["benchbench.cli", *matrixrun.cli_args(matrix, results_dir, cache_dir)], matrixrun.cli_env())
