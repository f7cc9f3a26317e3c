"""Did synthetic frames change a detector's score on specimens it has never seen? The statistics.

The test specimen is the unit of inference: a claim about synthetic frames is a claim about the
specimens a user will inspect next, and seeds only measure how noisy one specimen's score is.
Per answer row, with ``d_s`` the mean over seeds of (synthetic − real-only) on test specimen ``s``:

    Δ = mean_s d_s,   SE = sd_s(d_s) / √n,   t = Δ / SE  (n − 1 degrees of freedom)

a two-sided paired t test across the ``n`` specimens, its ``1 − α`` interval Δ ± t_{1−α/2, n−1}·SE,
TOST within ±margin for equivalence (statsmodels ``ttost_paired``), and the smallest |Δ| the test
finds with 80% power (statsmodels ``TTestPower``). With seeds balanced within specimens this is
the exact F test of the fixed effect in the mixed model "seeds nested in specimens". Holm's
step-down (statsmodels ``multipletests``) adjusts every row of a family. docs/results.md argues
the choice against the sign-flip permutation test and the frame bootstrap.

Pure numpy/scipy/statsmodels: the caller (benchbench.analysis.report.answer) reads the run folder.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

HELPED, HURT, EQUIVALENT, INCONCLUSIVE, NOT_INFORMATIVE = "helped", "hurt", "equivalent", "inconclusive", \
    "not-informative"
VERDICTS = (HELPED, HURT, EQUIVALENT, INCONCLUSIVE, NOT_INFORMATIVE)
MIN_SPECIMENS = 4  # below this a t test across specimens has 2 degrees of freedom or fewer: describe only
POWER = 0.8  # the power at which the minimum detectable effect is stated


@dataclass(frozen=True)
class PairedTest:
    """Paired t test across specimens of one row's per-specimen differences."""

    n: int  # specimens
    delta: float  # mean over specimens
    sd: float  # standard deviation of the specimen differences (ddof 1); nan below 2 specimens
    ci: tuple[float, float]  # 1 − alpha, Student t; nan below 2 specimens
    p: float  # two-sided; nan below 2 specimens
    p_tost: float  # TOST against ±margin; nan without a margin or below 2 specimens
    mde: float  # smallest |Δ| found with POWER at level mde_alpha; nan below 2 specimens or when not asked


def specimen_differences(real: Mapping[tuple[int, str], float],
                         synthetic: Mapping[tuple[int, str], float]) -> dict[str, float]:
    """``{specimen: mean over seeds of (synthetic − real)}`` from values keyed by (seed, specimen).

    Only (seed, specimen) pairs present on both sides count, so the two arms are averaged over the
    same seeds within each specimen."""
    per: dict[str, list[float]] = {}
    for key in sorted(set(real) & set(synthetic)):
        per.setdefault(key[1], []).append(synthetic[key] - real[key])
    return {s: float(np.mean(v)) for s, v in per.items()}


def specimen_means(values: Mapping[tuple[int, str], float]) -> dict[str, float]:
    """``{specimen: mean over seeds}`` of values keyed by (seed, specimen)."""
    per: dict[str, list[float]] = {}
    for (_, specimen), v in values.items():
        per.setdefault(specimen, []).append(v)
    return {s: float(np.mean(v)) for s, v in per.items()}


def t_test(differences: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(Δ, sd, CI half-width, two-sided p) of the paired t test along the last axis (n >= 2, sd > 0).

    Vectorised, so a simulation tests many draws in one call with the code that tests one row."""
    from scipy.stats import t as student  # scipy: heavy, off the start-up path

    d = np.asarray(differences, dtype=float)
    n = d.shape[-1]
    delta, sd = d.mean(axis=-1), d.std(axis=-1, ddof=1)
    se = sd / math.sqrt(n)
    return delta, sd, student.ppf(1 - alpha / 2, n - 1) * se, 2 * student.sf(np.abs(delta) / se, n - 1)


def paired_test(differences: Sequence[float], *, alpha: float = 0.05, margin: float | None = None,
                mde_alpha: float | None = None) -> PairedTest:
    """Paired t across specimens of their (synthetic − real) differences; see the module docstring.

    ``mde_alpha``: compute the minimum detectable effect at this level (else it is nan: solving for
    it is slow, and only the rows a report shows need it)."""
    d = np.asarray(differences, dtype=float)
    n = int(d.size)
    nan = float("nan")
    if n == 0:
        return PairedTest(0, nan, nan, (nan, nan), nan, nan, nan)
    delta = float(d.mean())
    if n < 2:
        return PairedTest(n, delta, nan, (nan, nan), nan, nan, nan)
    if float(d.std(ddof=1)) == 0:  # every specimen moved by the same amount (e.g. the same cells on both sides)
        p_tost = nan if margin is None else float(abs(delta) >= margin)
        return PairedTest(n, delta, 0.0, (delta, delta), float(delta == 0), p_tost, 0.0)
    _, sd, half, p = (float(x) for x in t_test(d, alpha))
    p_tost = nan
    if margin is not None:
        from statsmodels.stats.weightstats import ttost_paired  # statsmodels: heavy, off the start-up path

        p_tost = float(ttost_paired(d, np.zeros_like(d), -margin, margin)[0])
    mde = nan if mde_alpha is None else minimum_detectable(n, sd, mde_alpha)
    return PairedTest(n, delta, sd, (delta - half, delta + half), p, p_tost, mde)


def minimum_detectable(n: int, sd: float, alpha: float, power: float = POWER) -> float:
    """Smallest |Δ| a two-sided paired t test over n specimens finds with the given power."""
    if n < 2 or not np.isfinite(sd):
        return float("nan")
    if sd == 0:
        return 0.0
    from statsmodels.stats.power import TTestPower  # statsmodels: heavy, off the start-up path

    return float(TTestPower().solve_power(nobs=n, alpha=alpha, power=power, alternative="two-sided") * sd)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values over the finite entries; nan entries (no test) stay nan and do not count."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        from statsmodels.stats.multitest import multipletests  # statsmodels: heavy, off the start-up path

        out[finite] = multipletests(p[finite], method="holm")[1]
    return out.tolist()


def classify(test: PairedTest, p_holm: float, p_tost_holm: float, alpha: float,
             not_informative: str | None = None) -> tuple[str, str]:
    """(verdict, reason) of one row, by the rules of docs/results.md, in this order.

    ``not_informative``: why the row cannot answer the question (a baseline below the floor, no
    cracked synthetic frame in training), decided without looking at Δ."""
    if not_informative:
        return NOT_INFORMATIVE, not_informative
    if test.n < MIN_SPECIMENS:
        return INCONCLUSIVE, descriptive_only(test.n)
    if p_holm < alpha:
        return (HELPED if test.delta > 0 else HURT), f"Holm-adjusted p = {p_holm:.2g}"
    if p_tost_holm < alpha:
        return EQUIVALENT, f"TOST Holm-adjusted p = {p_tost_holm:.2g}"
    return INCONCLUSIVE, f"effects below {test.mde:.3f} would usually be missed (80% power)"


def descriptive_only(n: int) -> str:
    return f"descriptive only ({n} specimen{'s' * (n != 1)})"
