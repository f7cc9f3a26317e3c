"""`bench compare` and `bench leaderboard check` on specimen-fold runs: each cell re-scored against its own
fold's ground truth, the frames resampled within each fold, and runs whose folds test other frames refused.

The runs are small 3-fold runs of ``noisydet`` (tests/benchbench_toys_lb.py), one detector setting, two
seeds: "base" and "worse" (boxes misplaced by a box size on average), and "two" (the same data in 2 folds).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benchbench.analysis.stats import (
    BETTER,
    SAME,
    Options,
    RunData,
    compare_runs,
    iter_stratified_samples,
    seed_stat,
)
from benchbench.cli import main
from benchbench.errors import UserError
from benchbench.metrics.bootstrap import iter_bootstrap_samples

MATRIX = """
name: {name}
seed: [0, 1]
data: {{dataset: toydata, n: 50, groups: 5}}
split: {{folds: {folds}}}
detectors:
  - {{name: det, plugin: noisydet, noise: {noise}, noise_seed: 1}}
axes: {{synthetic_ratio: [0]}}
metrics: {{bootstrap: 0}}
samples: 0
scores: {{enabled: false}}
"""
RUNS = {"base": (3, 0.05), "worse": (3, 1.0), "two": (2, 0.05)}  # name -> (folds, noise)
N_BOOT = "100"


def bench(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def fold_runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("fold-compare")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCHBENCH_PLUGIN_MODULES", "benchbench_toys,benchbench_toys_lb")
        mp.chdir(base)
        for name, (folds, noise) in RUNS.items():
            (base / f"{name}.yaml").write_text(MATRIX.format(name=name, folds=folds, noise=noise))
            res = bench("run", f"{name}.yaml", "--cache-dir", "cache", "--no-report", "--quiet")
            assert res.exit_code == 0, res.output
    return {name: base / "results" / name for name in RUNS}


def test_a_fold_run_against_itself_is_the_same_and_rescores_each_fold_on_its_own_truth(fold_runs):
    run = RunData.from_dir(fold_runs["base"])
    assert sorted(run.gts) == [0, 1, 2] and all(gt is not None for gt in run.gts.values())
    comp = compare_runs(run, run, Options(metrics=("AP30", "mAP50"), n_boot=100))
    assert {r.state for r in comp.rows} == {SAME} and len(comp.rows) == 2
    assert all(r.delta == 0 and r.p == 1 and r.seeds == [0, 1] for r in comp.rows)
    # a seed's value is the mean over its folds of what each fold's cell recorded on its own test frames
    cells = json.loads((fold_runs["base"] / "results.json").read_text())["cells"]
    assert sorted(c["fold"] for c in cells) == [0, 0, 1, 1, 2, 2]
    for row in comp.rows:
        assert row.a == pytest.approx(np.mean([c["metrics"][row.metric]["value"] for c in cells]))


def test_a_better_detector_is_found_better_across_the_folds(fold_runs):
    res = bench("compare", fold_runs["worse"], fold_runs["base"], "--json", "--n-boot", N_BOOT)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["counts"] == {BETTER: 2}
    assert all(r["ci"][0] > 0 and r["p"] < data["alpha"] for r in data["rows"])
    back = bench("compare", fold_runs["base"], fold_runs["worse"], "--n-boot", N_BOOT)
    assert back.exit_code == 1 and "REGRESSION" in back.stdout


def test_runs_whose_folds_test_other_frames_are_not_compared(fold_runs, tmp_path):
    res = bench("compare", fold_runs["base"], fold_runs["two"])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert str(fold_runs["two"]) in res.stderr and "2 specimen folds" in res.stderr and "3 specimen folds" in res.stderr
    other = tmp_path / "other"  # the same folds, but fold 1's ground truth is another fold's
    shutil.copytree(fold_runs["base"], other)
    (other / "test_gt__f1.json").write_text((other / "test_gt__f0.json").read_text())
    res = bench("compare", fold_runs["base"], other)
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert str(other) in res.stderr and "fold 1's test frames differ" in res.stderr and "test_gt__f1.json" in res.stderr
    with pytest.raises(UserError, match="fold 1's test frames differ"):
        compare_runs(RunData.from_dir(fold_runs["base"]), RunData.from_dir(other), Options(n_boot=10))


def test_leaderboard_check_of_a_fold_run_rescores_the_reference_from_the_database(fold_runs, tmp_path):
    db = tmp_path / "lb.sqlite"
    ref = tmp_path / "ref"  # the reference's folder is gone after submitting: its truth comes from the database
    shutil.copytree(fold_runs["base"], ref)
    assert bench("leaderboard", "submit", ref, "--db", db).exit_code == 0
    shutil.rmtree(ref)
    res = bench("leaderboard", "check", fold_runs["worse"], "--db", db, "--against", "base", "--json",
                "--n-boot", N_BOOT)
    assert res.exit_code == 1, res.output
    assert {r["state"] for r in json.loads(res.stdout)["rows"]} == {"worse"}


def test_stratified_samples_keep_each_folds_frames_and_count():
    groups = ["a", "a", "b", "b", "c", "c", "d", "d", "e", "e"]  # two frames per specimen
    strata = [0] * 4 + [1] * 6  # fold 0 tests a and b, fold 1 c, d and e
    seen = set()
    for sample in iter_stratified_samples(groups, strata, 20, np.random.default_rng(0)):
        assert np.sum(sample < 4) == 4 and np.sum(sample >= 4) == 6  # as many specimens per fold as it has
        seen.add(tuple(sample))
    assert len(seen) > 1
    one = list(iter_stratified_samples(groups, [0] * 10, 5, np.random.default_rng(3)))
    plain = list(iter_bootstrap_samples(groups, 10, 5, np.random.default_rng(3)))
    assert all(np.array_equal(x, y) for x, y in zip(one, plain, strict=True))


def test_a_seeds_folds_are_one_observation_in_seed_stats_and_the_summary():
    """Two seeds over three specimen folds are two observations, each the mean over its folds; counting
    the six fold cells as six seeds would narrow the interval by about sqrt(3)."""
    from benchbench.records.summary import summarize

    vals = {(0, 0): 0.2, (0, 1): 0.6, (0, 2): 0.4, (1, 0): 0.3, (1, 1): 0.7, (1, 2): 0.8}
    cells = [{"status": "ok", "metrics": {"mAP50": {"value": v}},
              "cell": {"detector": "d", "seed": s, "fold": f, "ratio": 0.0, "budget": "epochs"}}
             for (s, f), v in vals.items()]
    s = seed_stat(cells, "mAP50")
    assert s.n == 2 and s.mean == pytest.approx(0.5)
    half = 12.706 * np.std([0.4, 0.6], ddof=1) / np.sqrt(2)
    assert (s.lo, s.hi) == pytest.approx((max(0.0, 0.5 - half), min(1.0, 0.5 + half)), abs=1e-3)
    one = seed_stat([c for c in cells if c["cell"]["seed"] == 0], "mAP50")
    assert one.n == 1 and one.mean == pytest.approx(0.4) and np.isnan(one.lo)  # a fold's frame CI is not the pooled one
    entry = summarize(cells)[0]
    assert entry["mAP50"]["n"] == 2 and entry["mAP50"]["std"] == pytest.approx(np.std([0.4, 0.6], ddof=1))
    from benchbench.analysis.report.markdown import summary_rows

    headers, rows = summary_rows([entry], ["mAP50"])
    assert rows[0][headers.index("seeds")] == "2"  # the tables count seeds, not fold cells
