"""Distribution scores between real and synthetic feature sets: Fréchet distance, KID, PRDC.

Features are ``(n, d)`` float arrays, one row per frame. All functions are exact and
deterministic (no sub-sampling), so the tests pin them against closed forms.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg
from scipy.spatial.distance import cdist


def _as2d(x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    return a[:, None] if a.ndim == 1 else a


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID when the features are Inception's).

    ``|mu_r - mu_f|^2 + Tr(C_r + C_f - 2 (C_r C_f)^(1/2))``.
    """
    a, b = _as2d(real), _as2d(fake)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("the Fréchet distance needs at least 2 frames on each side")
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(ca @ cb)
    if caught or not np.isfinite(covmean).all():
        # Fewer frames than dimensions (or constant dimensions) make the product singular; a tiny
        # ridge, as pytorch-fid adds, moves the estimate by O(eps * d) only.
        eps = 1e-6 * np.eye(len(ca))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            covmean = linalg.sqrtm((ca + eps) @ (cb + eps))
    covmean = np.real(covmean)
    diff = mu_a - mu_b
    return float(max(0.0, diff @ diff + np.trace(ca) + np.trace(cb) - 2.0 * np.trace(covmean)))


def _kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # The cubic polynomial kernel of Bińkowski et al. (2018), the one KID is defined with.
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def kid(real: np.ndarray, fake: np.ndarray) -> tuple[float, float]:
    """Kernel Inception Distance (unbiased MMD² with the cubic kernel) and its standard error.

    The estimate uses every pair (no random subsets, so it is reproducible); the standard error is
    the delete-one jackknife over each sample, summed (Arvesen 1969), computed from kernel row sums.
    """
    x, y = _as2d(real), _as2d(fake)
    m, n = len(x), len(y)
    if m < 3 or n < 3:
        raise ValueError("KID needs at least 3 frames on each side")
    kxx, kyy, kxy = _kernel(x, x), _kernel(y, y), _kernel(x, y)
    np.fill_diagonal(kxx, 0.0)
    np.fill_diagonal(kyy, 0.0)
    sxx, syy, sxy = kxx.sum(), kyy.sum(), kxy.sum()
    value = sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2.0 * sxy / (m * n)
    rx, ry = kxx.sum(1), kyy.sum(1)
    # Leaving x_i out removes its row and column of Kxx and its row of Kxy.
    loo_x = (sxx - 2 * rx) / ((m - 1) * (m - 2)) + syy / (n * (n - 1)) - 2 * (sxy - kxy.sum(1)) / ((m - 1) * n)
    loo_y = sxx / (m * (m - 1)) + (syy - 2 * ry) / ((n - 1) * (n - 2)) - 2 * (sxy - kxy.sum(0)) / (m * (n - 1))
    var = (m - 1) / m * ((loo_x - loo_x.mean()) ** 2).sum() + (n - 1) / n * ((loo_y - loo_y.mean()) ** 2).sum()
    return float(value), float(np.sqrt(var))


def _kth_neighbour_radii(x: np.ndarray, k: int) -> np.ndarray:
    d = cdist(x, x)
    # column 0 after sorting is the point itself (distance 0)
    return np.sort(d, axis=1)[:, k]


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage on k-NN manifolds (Naeem et al., ICML 2020).

    precision: share of fake frames inside some real frame's k-NN ball; recall: share of real frames
    inside some fake frame's ball; density: fake frames per real ball, divided by k (about 1 when both
    sets come from one distribution, (k+1)/k for identical sets); coverage: share of real balls that
    hold a fake frame.
    """
    r, f = _as2d(real), _as2d(fake)
    if len(r) <= k or len(f) <= k:
        raise ValueError(f"PRDC with k={k} needs more than {k} frames on each side")
    radii_r = _kth_neighbour_radii(r, k)
    radii_f = _kth_neighbour_radii(f, k)
    d = cdist(r, f)  # real x fake
    inside_real = d <= radii_r[:, None]
    return {
        "precision": float(inside_real.any(axis=0).mean()),
        "recall": float((d <= radii_f[None, :]).any(axis=1).mean()),
        "density": float(inside_real.sum() / (k * len(f))),
        "coverage": float((d.min(axis=1) <= radii_r).mean()),
    }
