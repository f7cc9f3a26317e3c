"""Item 4: generation reuse on a 5-ratio x 3-guidance x 2-seed matrix.

Frames are counted by the no-op generator itself (what generate() really returned), not taken
from the runner's statistics, and compared with two same-run references:
  nested formula  sum over (guidance, seed) of round(max(ratio) x n_real_train)  -- the target;
  naive count     sum over (guidance, seed, ratio) of round(ratio x n_real_train) -- one batch per cell.
Then the same command again (resume) and a new run folder sharing the cache must generate 0.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from benchmarks import matrixrun
from benchmarks.core import BenchResult, Figure

NAME = "generation"
RATIOS = (0.25, 0.5, 1.0, 1.5, 2.0)  # five synthetic ratios (the ratio-0 baseline comes on top)
GUIDANCE = (5.0, 7.5, 10.0)
SEEDS = (0, 1)

MATRIX = """\
name: genreuse
seed: {seeds}
data: {{dataset: noopdata, n: {n}, size: 16}}
split: {{test_fraction: 0.3}}
generators:
  - {{name: g, plugin: noopgen}}
detectors:
  - {{name: d, plugin: noopdet}}
axes: {{synthetic_ratio: {ratios}, guidance: {guidance}}}
labeler: generator
metrics: {{bootstrap: 0}}
samples: 0
"""


def expected(n_train: int) -> tuple[int, int]:
    """(nested, naive) frame counts, from the design's formulas, independent of the planner's code."""
    per_task_nested = round(max(RATIOS) * n_train)
    per_task_naive = sum(round(r * n_train) for r in RATIOS)
    tasks = len(GUIDANCE) * len(SEEDS)
    return tasks * per_task_nested, tasks * per_task_naive


def run(quick: bool = False, profile: bool = True) -> BenchResult:
    matrixrun.use_noop_plugins()
    res = BenchResult(NAME)
    work = Path(tempfile.mkdtemp(prefix="benchbench-genreuse-"))
    try:
        matrix = work / "genreuse.yaml"
        matrix.write_text(MATRIX.format(seeds=list(SEEDS), n=30 if quick else 60, ratios=[0.0, *RATIOS],
                                        guidance=list(GUIDANCE)))
        cache = work / "cache"
        first = matrixrun.run_in_process(matrix, work / "results", cache)
        resumed = matrixrun.run_in_process(matrix, work / "results", cache)
        shared = matrixrun.run_in_process(matrix, work / "results-2", cache)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n_train = first.results["run"]["data"]["n_train"]
    nested, naive = expected(n_train)
    res.notes.append(f"{len(RATIOS)} synthetic ratios {list(RATIOS)} (+ ratio-0 baseline) x {len(GUIDANCE)} "
                     f"guidances x {len(SEEDS)} seeds, {n_train} real training frames; frames counted "
                     "inside the generator")
    made = sum(first.generated.values())
    gen = first.results["run"]["generation"]
    res.add(Figure(NAME, "frames generated, first run", made, "frames", "naive count (sum over ratios)", naive,
                   target=f"= nested formula ({nested})", met=made == nested,
                   details={"nested_formula": nested, "naive": naive, "n_train": n_train,
                            "by_label": first.generated, "planner_planned": gen["planned_frames"],
                            "planner_naive": gen["naive_frames"], "runner_generated": gen["generated"],
                            "runner_cached": gen["cached"], "seconds": first.seconds}))
    for label, run_ in (("re-run of the same command (resume)", resumed),
                        ("new run folder sharing the cache", shared)):
        n = sum(run_.generated.values())
        g = run_.results["run"]["generation"]
        res.add(Figure(NAME, f"frames generated, {label}", n, "frames", "naive count", naive, target="= 0",
                       met=n == 0, details={"runner_generated": g["generated"], "runner_cached": g["cached"],
                                            "seconds": run_.seconds}))
    return res
