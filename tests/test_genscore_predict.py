"""Score-vs-gain: partial Spearman on the ratio, bootstrap CI, and the too-few-points verdict."""

import numpy as np
import pytest

from benchbench.analysis.genscore.predict import correlate, gains, partial_spearman, score_gain


def _cell(det, seed, ratio, gen, value, guidance=None, budget="epochs"):
    return {"status": "ok", "cell": {"detector": det, "seed": seed, "ratio": ratio, "generator": gen,
                                     "guidance": guidance, "budget": budget}, "metrics": {"mAP50": {"value": value}}}


def test_gains_are_against_the_baseline_of_the_same_detector_and_seed():
    cells = [_cell("d", 0, 0.0, None, 0.2), _cell("d", 1, 0.0, None, 0.4),
             _cell("d", 0, 1.0, "g", 0.5, 7.5), _cell("d", 1, 1.0, "g", 0.3, 7.5)]
    rows = gains(cells, "mAP50")
    assert [(r["set"], r["gain"]) for r in rows] == [("g__g7.5__s0", pytest.approx(0.3)),
                                                     ("g__g7.5__s1", pytest.approx(-0.1))]


def test_gains_use_the_baseline_of_the_same_budget():
    # plan order: the equal-steps real-only twin comes after the equal-epochs baseline and must not replace it
    cells = [_cell("d", 0, 0.0, None, 0.2), _cell("d", 0, 0.5, "g", 0.3), _cell("d", 0, 1.0, "g", 0.5),
             _cell("d", 0, 0.0, None, 0.4, budget="steps"), _cell("d", 0, 0.5, "g", 0.45, budget="steps")]
    rows = {(r["ratio"], r["budget"]): r["gain"] for r in gains(cells, "mAP50")}
    assert rows == {(0.5, "epochs"): pytest.approx(0.1), (1.0, "epochs"): pytest.approx(0.3),
                    (0.5, "steps"): pytest.approx(0.05)}
    # with folds, each fold's cells pair with that fold's baseline
    folded = [c | {"fold": f} for f, c in enumerate([_cell("d", 0, 0.0, None, 0.2), _cell("d", 0, 0.0, None, 0.6)])]
    folded += [c | {"fold": f} for f, c in enumerate([_cell("d", 0, 1.0, "g", 0.3), _cell("d", 0, 1.0, "g", 0.5)])]
    assert [r["gain"] for r in gains(folded, "mAP50")] == [pytest.approx(0.1), pytest.approx(-0.1)]


def test_partial_spearman_removes_the_ratio():
    rng = np.random.default_rng(0)
    ratio = np.repeat([0.5, 1.0, 2.0], 40)
    gain = ratio + 0.1 * rng.normal(size=120)  # the ratio alone drives the gain
    confounded = rng.normal(size=120) + 3 * ratio  # a score that merely tracks the ratio
    assert partial_spearman(confounded, gain, np.zeros(120)) > 0.6  # plain Spearman is fooled
    assert abs(partial_spearman(confounded, gain, ratio)) < 0.2  # partial Spearman is not
    score = rng.normal(size=120)
    assert partial_spearman(score, np.exp(score), np.zeros(120)) == pytest.approx(1.0)
    assert partial_spearman(score, -score + 0.01 * ratio, ratio) < -0.99


def test_correlate_gives_a_ci_and_refuses_small_grids():
    rng = np.random.default_rng(1)
    sets = [f"s{i}" for i in range(8)]
    scores = {s: {"fd": float(i)} for i, s in enumerate(sets)}
    rows = [{"set": s, "ratio": r, "gain": -0.05 * i + 0.01 * rng.normal()}
            for i, s in enumerate(sets) for r in (0.5, 1.0)]
    res = correlate(rows, scores, "fd", n_boot=200)

    assert res["rho"] < -0.8 and res["ci"][0] <= res["rho"] <= res["ci"][1] and res["ci"][1] < 0
    small = correlate(rows[:6], scores, "fd", n_boot=200)
    assert small["rho"] is None and "too few points" in small["note"] and small["n_sets"] == 3


def test_score_gain_says_plainly_when_the_grid_is_too_small():
    cells = [_cell("d", 0, 0.0, None, 0.2), _cell("d", 0, 1.0, "g", 0.5)]
    section = {"sets": [{"id": "g__g-__s0", "scores": {"physics": {"crack": {"fd": 1.0}}}}]}
    out = score_gain(cells, section, ["mAP50"], n_boot=10)
    assert "too small" in out["conclusion"] and "1 generated set" in out["conclusion"]
    assert out["metrics"]["mAP50"]["by_score"]["physics.crack.fd"]["rho"] is None


def test_score_gain_over_a_grid_counts_its_tests():
    # 8 generator seeds x 2 ratios; the set with the lower FD gives the larger gain
    cells = [_cell("d", seed, 0.0, None, 0.2) for seed in range(8)]
    cells += [_cell("d", seed, r, "g", 0.2 + 0.01 * (8 - seed) * r) for seed in range(8) for r in (0.5, 1.0)]
    section = {"sets": [{"id": f"g__g-__s{seed}", "scores": {"x": {"crack": {"fd": float(seed), "recall": 0.5}}}}
                        for seed in range(8)]}
    out = score_gain(cells, section, ["mAP50"], n_boot=100)
    fd = out["metrics"]["mAP50"]["by_score"]["x.crack.fd"]
    assert fd["rho"] < -0.95 and fd["n_sets"] == 8 and fd["n_cells"] == 16
    assert out["metrics"]["mAP50"]["by_score"]["x.crack.recall"]["rho"] is None  # a constant score
    assert out["multiple_comparisons"].startswith("1 correlation(s) tested") and "conclusion" not in out
