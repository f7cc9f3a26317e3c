"""`bench compare` and benchbench.analysis.stats: a clear drop is flagged, noise is not, states as asv compare.

The runs come from `bench run` with ``noisydet`` (tests/benchbench_toys_lb.py): "base" and "noise"
differ only in the random draw that jitters the boxes (same noise level), "worse" misplaces the
boxes by a box width/height on average — a genuinely worse detector.
"""

from __future__ import annotations

import copy
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from benchbench.analysis.stats import (
    BETTER,
    FIXED,
    NEWLY_FAILING,
    NOT_COMPARABLE,
    SAME,
    UNSURE,
    WORSE,
    CellRecord,
    Options,
    RunData,
    compare_runs,
    parse_tolerances,
    seed_stat,
)
from benchbench.cli import main

N_BOOT = "100"  # the smallest p is 2 / (n + 1) < 0.05; more resamples only sharpen the CI


def compare(*args: str):
    return CliRunner().invoke(main, ["compare", *map(str, args), "--n-boot", N_BOOT])


def as_json(res) -> dict:
    assert res.exit_code in (0, 1), res.output
    return json.loads(res.stdout)


def test_clear_drop_is_a_regression_and_the_reverse_an_improvement(runs):
    res = compare(runs["base"], runs["worse"])
    assert res.exit_code == 1, res.output
    assert "REGRESSION" in res.stdout and "worse" in res.stdout and "Δ [95% CI]" in res.stdout
    back = compare(runs["worse"], runs["base"], "--json")
    assert back.exit_code == 0, back.output
    data = json.loads(back.stdout)
    assert not data["regression"] and data["counts"] == {BETTER: len(data["rows"])}
    for row in data["rows"]:
        assert row["delta"] > row["tolerance"] and row["ci"][0] > 0 and row["p"] < data["alpha"]
        assert "detector params changed" in row["note"]
    # 3 settings (baseline, tg at guidance 7 and 9) x 2 default metrics
    assert {(r["generator"], r["guidance"], r["metric"]) for r in data["rows"]} == {
        (g, gd, m) for g, gd in ((None, None), ("tg", 7.0), ("tg", 9.0)) for m in ("mAP50_95", "mAP50")}


@pytest.mark.parametrize("a, b", [("base", "noise"), ("noise", "base")])
def test_noise_alone_is_not_flagged(runs, a, b):
    # The two runs really differ (else this test could not fail) ...
    pa = json.loads((runs[a] / "work" / "det__real__g-__r0__s0" / "predictions.json").read_text())
    pb = json.loads((runs[b] / "work" / "det__real__g-__r0__s0" / "predictions.json").read_text())
    assert [d["bbox"] for d in pa] != [d["bbox"] for d in pb]
    # ... but only by noise: no significant change in either direction.
    res = compare(runs[a], runs[b], "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert not data["regression"]
    assert {r["state"] for r in data["rows"]} <= {SAME, UNSURE}
    assert all(r["delta"] != 0 and r["p"] >= data["alpha"] and r["ci"][0] <= 0 <= r["ci"][1] for r in data["rows"])


def test_a_run_against_itself_is_the_same(runs):
    run = RunData.from_dir(runs["base"])
    comp = compare_runs(run, run, Options(metrics=("AP30",), n_boot=100))
    assert {r.state for r in comp.rows} == {SAME}
    assert all(r.delta == 0 and r.p == 1 and r.ci == (0, 0) for r in comp.rows)
    # the re-scored value is the value the run recorded
    cell = run.by_setting()[("det", None, None, 0.0)][0].result
    assert comp.rows[0].a == pytest.approx(np.mean([c.result["metrics"]["AP30"]["value"]
                                                   for c in run.by_setting()[("det", None, None, 0.0)].values()]))
    assert cell["metrics"]["AP30"]["value"] >= 0


def test_size_range_metrics_rescore_to_the_recorded_values(runs):
    run = RunData.from_dir(runs["base"])
    comp = compare_runs(run, run, Options(metrics=("mAP50@hairline", "AP10@hairline"), n_boot=100))
    assert {r.state for r in comp.rows} == {SAME}
    cells = run.by_setting()[("det", None, None, 0.0)].values()
    for metric in ("mAP50", "AP10"):
        row = next(r for r in comp.rows if r.metric == f"{metric}@hairline" and r.generator is None)
        recorded = [c.result["metrics"]["sizes"]["ranges"]["hairline"][metric]["value"] for c in cells]
        assert row.a == pytest.approx(np.mean(recorded)) and min(recorded) >= 0


def test_tolerance_is_per_metric_and_needed_for_a_regression(runs):
    # mAP50-95 drops by less than 0.5: within tolerance; mAP50 keeps the default 0.01 -> still worse.
    res = compare(runs["base"], runs["worse"], "--json", "--tolerance", "0.5", "--tolerance", "mAP50=0.01")
    data = as_json(res)
    assert res.exit_code == 1
    assert data["tolerances"] == {"mAP50_95": 0.5, "mAP50": 0.01}
    states = {(r["metric"], r["state"]) for r in data["rows"]}
    assert states == {("mAP50_95", SAME), ("mAP50", WORSE)}


def test_status_changes_outrank_statistics(runs):
    base = RunData.from_dir(runs["base"])
    broken = copy.deepcopy(base)
    broken.cells = [CellRecord(copy.deepcopy(c.result) | ({"status": "failed", "error": "RuntimeError: boom"}
                                                          if c.seed == 1 else {}), c.predictions)
                    for c in base.cells]
    opts = Options(metrics=("mAP50",), n_boot=100)
    newly = compare_runs(base, broken, opts)
    assert {r.state for r in newly.rows} == {NEWLY_FAILING} and newly.regressions
    assert all(r.seeds == [0] and "seed 1 failed: RuntimeError: boom" in r.note for r in newly.rows)
    fixed = compare_runs(broken, base, opts)
    assert {r.state for r in fixed.rows} == {FIXED} and not fixed.regressions


def test_other_data_is_not_comparable(runs, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(runs["noise"], other)
    results = json.loads((other / "results.json").read_text())
    results["run"]["data"]["manifest_hash"] = "0" * 64  # as if made from other frames or another split
    (other / "results.json").write_text(json.dumps(results))
    comp = compare_runs(RunData.from_dir(runs["base"]), RunData.from_dir(other), Options(n_boot=100))
    assert {r.state for r in comp.rows} == {NOT_COMPARABLE} and not comp.comparable
    res = compare(runs["base"], other)
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and "nothing comparable" in res.stderr and "different data" in res.stderr


@pytest.mark.parametrize("args, message", [
    (["--metric", "f1"], "cannot be compared frame by frame"),
    (["--tolerance", "abc"], "is not a number"),
    (["--tolerance", "AP10=0.1"], "which is not compared"),
    (["--alpha", "1.5"], "alpha must lie in (0, 1)"),
    (["--alpha", "0.01", "--n-boot", "150"], "150 resamples cannot reach p < 0.01"),
])
def test_bad_options_are_user_errors(runs, args, message):
    res = CliRunner().invoke(main, ["compare", str(runs["base"]), str(runs["noise"]), *args])
    assert res.exit_code == 2 and message in res.stderr


def test_missing_run_is_a_user_error(tmp_path, runs):
    res = compare(tmp_path / "nope", runs["base"])
    assert res.exit_code == 2 and "no results.json" in res.stderr


def test_parse_tolerances():
    assert parse_tolerances([], ["mAP50"]) == {"mAP50": 0.01}
    assert parse_tolerances(["mAP50=0.03", "0.02"], ["mAP50", "AP10"]) == {"mAP50": 0.03, "AP10": 0.02}


def test_seed_stat_is_a_t_interval_over_seeds_or_the_cell_ci():
    from scipy.stats import t

    cells = [{"status": "ok", "cell": {"seed": i}, "metrics": {"mAP50": {"value": v, "ci": [v - 0.1, v + 0.1]}}}
             for i, v in enumerate([0.5, 0.6, 0.7])]
    s = seed_stat(cells + [{"status": "failed", "cell": {"seed": 9}}], "mAP50")
    half = t.ppf(0.975, 2) * np.std([0.5, 0.6, 0.7], ddof=1) / np.sqrt(3)
    assert (s.n, s.mean) == (3, pytest.approx(0.6)) and (s.lo, s.hi) == (pytest.approx(0.6 - half),
                                                                           pytest.approx(0.6 + half))
    one = seed_stat(cells[:1], "mAP50")
    assert (one.n, one.lo, one.hi) == (1, pytest.approx(0.4), pytest.approx(0.6))
    assert seed_stat([], "mAP50") is None
    low = [{"status": "ok", "cell": {"seed": i}, "metrics": {"mAP50": {"value": v}}} for i, v in enumerate([0.01, 0.2])]
    assert seed_stat(low, "mAP50").lo == 0.0  # a proportion's interval stays in [0, 1]
