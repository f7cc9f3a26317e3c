"""The answer's statistics (benchbench.analysis.inference): calibrated under a zero population effect with
specimen heterogeneity, powered against a real one, and the old frame bootstrap shown to over-reject.

Every simulation uses a fixed RNG seed and compares a rate over R draws with a 99.9% binomial bound,
so the tests are deterministic and their thresholds are not tuned to the draws.
"""

import numpy as np
import pytest
from scipy.stats import binom

from benchbench.analysis.inference import (
    EQUIVALENT,
    HELPED,
    HURT,
    INCONCLUSIVE,
    NOT_INFORMATIVE,
    classify,
    holm,
    minimum_detectable,
    paired_test,
    specimen_differences,
    t_test,
)

ALPHA = 0.05


def _upper(rate: float, draws: int) -> float:
    """Largest rejection share a procedure with true rate ``rate`` shows in 99.9% of ``draws``-draw runs."""
    return binom.ppf(0.999, draws, rate) / draws


def _null_run(rng, n_specimens, n_seeds, tau=0.08, sigma=0.03, effect=0.0):
    """(seed, specimen) -> (real, synthetic): each specimen's synthetic effect is drawn anew per run with
    population mean ``effect``; the seeds share the specimen's effect and add their own noise."""
    base = rng.uniform(0.3, 0.8, n_specimens)
    shift = effect + tau * rng.normal(size=n_specimens)
    real, syn = {}, {}
    for s in range(n_specimens):
        for k in range(n_seeds):
            real[k, f"S{s}"] = base[s] + sigma * rng.normal()
            syn[k, f"S{s}"] = base[s] + shift[s] + sigma * rng.normal()
    return real, syn


def _null_differences(rng, draws, n_specimens, n_seeds, tau=0.08, sigma=0.03, effect=0.0):
    """_null_run for many draws at once, reduced as the answer reduces it: the specimen differences
    (synthetic − real, averaged over seeds within each specimen), shape (draws, n_specimens)."""
    shift = effect + tau * rng.normal(size=(draws, n_specimens, 1))
    real = sigma * rng.normal(size=(draws, n_specimens, n_seeds))
    syn = shift + sigma * rng.normal(size=(draws, n_specimens, n_seeds))
    return (syn - real).mean(axis=-1)


def test_the_vectorised_test_is_the_one_rows_get():
    rng = np.random.default_rng(3)
    real, syn = _null_run(rng, 5, 3)
    d = np.array(list(specimen_differences(real, syn).values()))
    delta, _, half, p = t_test(d[None, :])
    row = paired_test(d)
    assert (row.delta, row.p, row.ci[1]) == pytest.approx((delta[0], p[0], delta[0] + half[0]))
    assert classify(row, row.p, float("nan"), ALPHA)[0] == (INCONCLUSIVE if row.p >= ALPHA else
                                                              HELPED if row.delta > 0 else HURT)


@pytest.mark.parametrize("n_specimens", [4, 6])
def test_a_zero_population_effect_is_called_helped_or_hurt_at_most_alpha_of_the_time(n_specimens):
    draws = 20000
    _, _, _, p = t_test(_null_differences(np.random.default_rng(22), draws, n_specimens, 3))
    rate = float(np.mean(p < ALPHA))  # classify: helped/hurt exactly when the (family of 1) p < alpha
    assert rate <= _upper(ALPHA, draws), f"{rate:.3f} of null runs called helped/hurt"
    assert rate > 0.5 * ALPHA  # the test does reject: not calibrated by never answering


def test_holm_keeps_the_familywise_rate_over_a_family_of_null_rows():
    draws, rows = 2000, 4
    _, _, _, p = t_test(_null_differences(np.random.default_rng(5), draws * rows, 6, 3))
    families = p.reshape(draws, rows)
    # Holm rejects something exactly when its first step does: the smallest p below alpha / rows
    # (statsmodels' multipletests runs gc.collect on every call: too slow for thousands of families)
    assert all((min(holm(f)) < ALPHA) == (f.min() < ALPHA / rows) for f in families[:5])
    wrong = float(np.mean(families.min(axis=1) < ALPHA / rows))
    assert wrong <= _upper(ALPHA, draws)
    # unadjusted, a family of null rows says "some row helped or hurt" far more often than alpha
    assert np.mean(families.min(axis=1) < ALPHA) > _upper(ALPHA, draws)


def test_power_against_a_real_effect_matches_the_t_test_power(record_property):
    from statsmodels.stats.power import TTestPower

    draws, n, seeds, tau, sigma, effect = 20000, 6, 3, 0.05, 0.03, 0.07
    delta, _, _, p = t_test(_null_differences(np.random.default_rng(7), draws, n, seeds, tau, sigma, effect))
    power = float(np.mean((p < ALPHA) & (delta > 0)))
    # the specimen difference's sd: the specimen effect plus the seed noise of both arms, averaged over seeds
    sd = np.sqrt(tau**2 + 2 * sigma**2 / seeds)
    expected = TTestPower().power(effect_size=effect / sd, nobs=n, alpha=ALPHA, alternative="two-sided")
    record_property("power", power)
    print(f"power at Δ = {effect} over {n} specimens: {power:.3f} (t-test theory {expected:.3f})")
    lo, hi = binom.ppf(0.0005, draws, expected) / draws, binom.ppf(0.9995, draws, expected) / draws
    assert lo <= power <= hi and power > 0.5
    assert np.mean((p < ALPHA) & (delta < 0)) < 1e-3  # the wrong sign is (almost) never called


class _FrameScorer:
    """stats.Scorer's interface over per-frame scores: a metric is the mean over the sampled frames."""

    def __init__(self, per_frame):
        self.per_frame = np.asarray(per_frame)

    def __call__(self, metric, sample=None):
        return float(self.per_frame.mean() if sample is None else self.per_frame[sample].mean())


def test_the_old_frame_bootstrap_over_rejects_the_same_null():
    """The answer engine before issue 22: stats.paired_bootstrap over seeds and two test specimens.
    Two specimens whose effects are drawn with zero mean look like a property of synthetic frames."""
    from benchbench.analysis.stats import paired_bootstrap

    rng, draws, seeds, frames = np.random.default_rng(22), 100, 3, 12
    groups = ["Sample3"] * frames + ["Sample8"] * frames
    rejected = 0
    for i in range(draws):
        difficulty = rng.uniform(0.2, 0.9, 2 * frames)
        effect = np.repeat(0.08 * rng.normal(size=2), frames)  # zero-mean specimen effects
        a = {s: _FrameScorer(difficulty + 0.03 * rng.normal(size=2 * frames)) for s in range(seeds)}
        b = {s: _FrameScorer(difficulty + effect + 0.03 * rng.normal(size=2 * frames)) for s in range(seeds)}
        res = paired_bootstrap(a, b, ["AP10"], groups, n_boot=200, alpha=ALPHA, seed=i)["AP10"]
        rejected += res.p < ALPHA  # ratios_tried was 1 in every row: no correction
    print(f"old frame bootstrap: {rejected}/{draws} null runs significant")
    assert rejected / draws > _upper(ALPHA, draws), f"only {rejected}/{draws}"
    # the specimen-level test on the same design has two units: it describes and calls nothing
    real, syn = _null_run(rng, 2, 3)
    t = paired_test(list(specimen_differences(real, syn).values()))
    assert classify(t, t.p, float("nan"), ALPHA) == (INCONCLUSIVE, "descriptive only (2 specimens)")


def test_equivalence_needs_a_tight_interval_inside_the_margin():
    tight = paired_test([0.01, -0.01, 0.005, 0.0, -0.004, 0.008], margin=0.05)
    assert tight.p_tost < ALPHA and tight.ci[0] > -0.05 and tight.ci[1] < 0.05
    assert classify(tight, tight.p, tight.p_tost, ALPHA)[0] == EQUIVALENT
    wide = paired_test([0.2, -0.15, 0.1, -0.2, 0.05, -0.1], margin=0.05, mde_alpha=ALPHA)
    verdict, reason = classify(wide, wide.p, wide.p_tost, ALPHA)
    assert wide.p_tost > ALPHA and verdict == INCONCLUSIVE
    assert f"{wide.mde:.3f}" in reason and wide.mde > 0.05  # what the design can detect, stated


def test_paired_test_matches_scipy_and_statsmodels():
    from scipy.stats import ttest_1samp
    from statsmodels.stats.weightstats import ttost_paired

    d = np.array([0.03, 0.08, -0.01, 0.05, 0.02])
    t = paired_test(d, alpha=0.1, margin=0.04)
    ref = ttest_1samp(d, 0.0)
    assert t.p == pytest.approx(ref.pvalue) and t.ci == pytest.approx(tuple(ref.confidence_interval(0.9)))
    assert t.p_tost == pytest.approx(ttost_paired(d, np.zeros(5), -0.04, 0.04)[0])
    # the MDE is the effect the t test finds with 80% power
    from statsmodels.stats.power import TTestPower

    assert TTestPower().power(minimum_detectable(5, 0.1, 0.05) / 0.1, 5, 0.05) == pytest.approx(0.8)


def test_degenerate_inputs():
    assert paired_test([]).n == 0 and np.isnan(paired_test([]).delta)
    one = paired_test([0.2])
    assert one.n == 1 and one.delta == 0.2 and np.isnan(one.p)
    same = paired_test([0.0] * 5, margin=0.05)  # e.g. the very same cells on both sides
    assert same.p == 1.0 and same.p_tost == 0.0 and same.ci == (0.0, 0.0)


def test_holm_step_down_and_missing_tests():
    adj = holm([0.01, float("nan"), 0.04, 0.03])
    assert adj[0] == pytest.approx(0.03) and np.isnan(adj[1])
    assert adj[2] == pytest.approx(0.06) and adj[3] == pytest.approx(0.06)  # monotone step-down
    assert holm([float("nan")]) == [pytest.approx(float("nan"), nan_ok=True)]


def test_not_informative_outranks_the_statistics():
    t = paired_test([0.3, 0.31, 0.29, 0.3, 0.32])
    assert classify(t, 1e-6, 1.0, ALPHA, "real-only AP10 0.100 is below the floor 0.560") == \
        (NOT_INFORMATIVE, "real-only AP10 0.100 is below the floor 0.560")
    assert classify(t, 1e-6, 1.0, ALPHA)[0] == HELPED
    assert classify(paired_test([-x for x in [0.3, 0.31, 0.29, 0.3, 0.32]]), 1e-6, 1.0, ALPHA)[0] == HURT
