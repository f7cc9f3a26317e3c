"""FD, KID and PRDC pinned against closed forms and hand-checked values."""

import numpy as np
import pytest

from benchbench.analysis.genscore.fidelity import frechet_distance, kid, prdc


def _gauss(n=400, d=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)) @ np.diag([1.0, 2.0, 0.5, 1.5]) + 3.0


def test_fd_of_identical_sets_is_zero():
    a = _gauss()
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_fd_of_a_shifted_set_is_the_squared_shift():
    # Same empirical covariance on both sides, so the trace term vanishes exactly.
    a = _gauss()
    shift = np.array([1.0, -2.0, 0.5, 0.0])
    assert frechet_distance(a, a + shift) == pytest.approx(shift @ shift, rel=1e-9)


def test_fd_of_a_scaled_set_matches_the_closed_form():
    # B = cA: mu_B = c mu_A, C_B = c² C_A, (C_A C_B)^½ = c C_A  =>  FD = (1-c)² (|mu_A|² + tr C_A)
    a, c = _gauss(), 1.5
    mu, cov = a.mean(0), np.cov(a, rowvar=False)
    assert frechet_distance(a, c * a) == pytest.approx((1 - c) ** 2 * (mu @ mu + np.trace(cov)), rel=1e-8)


def test_fd_of_two_gaussian_samples_approaches_the_population_value():
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, (20000, 2))
    b = rng.normal([3, 0], [2, 1], (20000, 2))
    # N(0, I) vs N((3,0), diag(4,1)): 9 + (1 + 4 - 2*2) + (1 + 1 - 2) = 10
    assert frechet_distance(a, b) == pytest.approx(10.0, rel=0.03)


def test_fd_survives_fewer_frames_than_dimensions():
    a = np.random.default_rng(0).normal(size=(5, 20))
    assert np.isfinite(frechet_distance(a, a + 1.0))


def test_kid_of_point_masses_is_hand_checked():
    # d = 1, k(x, y) = (xy + 1)³. All x = 0, all y = 1: Kxx = 1, Kyy = 8, Kxy = 1 -> MMD² = 1 + 8 - 2 = 7.
    value, se = kid(np.zeros((6, 1)), np.ones((5, 1)))
    assert value == pytest.approx(7.0) and se == pytest.approx(0.0, abs=1e-12)


def test_kid_of_identical_sets_is_about_zero_and_of_shifted_sets_positive():
    a = _gauss(300) - 3.0
    same, _ = kid(a, a)
    # With X = Y the unbiased estimator keeps only its diagonal correction: 2 [S_off/(n(n-1)) - S_all/n²],
    # a small negative number, about 0 next to any real difference.
    k = (a @ a.T / a.shape[1] + 1.0) ** 3
    n, s_all = len(a), k.sum()
    assert same == pytest.approx(2 * ((s_all - np.trace(k)) / (n * (n - 1)) - s_all / n**2))
    assert abs(same) < 0.05 * kid(a, a + 1.0)[0]
    other = _gauss(300, seed=5) - 3.0
    v, se = kid(a, other)
    assert abs(v) < 3 * se  # two samples of one distribution: zero within its standard error
    v_shift, se_shift = kid(a, other + 1.0)
    assert v_shift > 5 * se_shift > 0


def test_prdc_of_identical_sets():
    a = _gauss(200)
    got = prdc(a, a, k=5)
    assert got["precision"] == 1.0 and got["recall"] == 1.0 and got["coverage"] == 1.0
    # each real ball holds its own centre and its k neighbours: (k+1)/k with no distance ties
    assert got["density"] == pytest.approx(6 / 5)


def test_prdc_of_a_far_away_set_is_zero_and_of_a_collapsed_set_has_no_recall():
    a = _gauss(200)
    far = prdc(a, a + 100.0, k=5)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    collapsed = np.repeat(a[:1], 50, axis=0) + 1e-9 * np.random.default_rng(0).normal(size=(50, 4))
    got = prdc(a, collapsed, k=5)
    assert got["precision"] == 1.0 and got["recall"] < 0.05 and got["coverage"] < 0.1


def test_too_few_frames_is_a_clear_error():
    with pytest.raises(ValueError, match="KID needs at least 3"):
        kid(np.zeros((2, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="k=5"):
        prdc(np.zeros((5, 3)), np.zeros((9, 3)), k=5)
