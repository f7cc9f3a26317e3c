"""Cluster (grouped) bootstrap confidence intervals for COCO metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from benchbench.metrics.coco import CocoEval

Metric = Callable[[CocoEval, np.ndarray], float]


def _group_members(groups: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image positions ordered by group, start of each group, size of each group)."""
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    sizes = np.bincount(inverse)
    starts = np.cumsum(sizes) - sizes
    return order, starts, sizes


def iter_bootstrap_samples(
    groups: Sequence[str], n_images: int, n_boot: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Yield ``n_boot`` cluster-bootstrap samples of image positions (see grouped_bootstrap_ci)."""
    order, starts, sizes = _group_members(groups)
    for _ in range(n_boot):
        if sizes.size <= 1:
            yield rng.integers(0, n_images, size=n_images)
            continue
        drawn = rng.integers(0, sizes.size, size=sizes.size)
        counts = sizes[drawn]
        ends = np.cumsum(counts)
        yield order[np.repeat(starts[drawn] - (ends - counts), counts) + np.arange(int(ends[-1]))]


def grouped_bootstrap_ci(
    ev: CocoEval,
    groups: Sequence[str],
    metric: Metric,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile ``1 - alpha`` confidence interval of ``metric`` by cluster bootstrap.

    ``groups`` gives one label per image, in ``ev.image_ids`` order (for example
    the video or flight a frame comes from, since neighbouring frames are not
    independent). Each resample draws as many groups as there are, with
    replacement, and takes every image of each drawn group; ``metric(ev,
    sample)`` is then evaluated on that multiset of image positions, e.g.
    ``lambda ev, s: ev.stat("AP", s)``.

    With a single group there is nothing to resample at group level, so images
    are resampled individually instead (plain bootstrap).

    Resamples where the metric is undefined (NaN, or COCO's -1 for "no ground
    truth in this sample") are left out; if none is defined the interval is
    ``(nan, nan)``. The result is deterministic for a given ``seed``.
    """
    low, high = grouped_bootstrap_cis(groups, len(ev.image_ids), lambda s: [metric(ev, s)], n_boot, seed, alpha)
    return (float(low[0]), float(high[0]))


def grouped_bootstrap_cis(
    groups: Sequence[str],
    n_images: int,
    metrics: Callable[[np.ndarray], Sequence[float] | np.ndarray],
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    derive: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile CIs of several metrics from the same resamples (see grouped_bootstrap_ci).

    ``metrics(sample)`` returns one value per metric; each metric's undefined resamples are
    left out on their own. Drawing once for all metrics gives every metric the interval it
    would get alone with the same seed, at the cost of one pass. ``derive`` maps the
    (resamples, values) matrix to the metrics when some are functions of raw per-resample values
    (ratios of summed counts): computed for all resamples at once, not once per resample.
    """
    if len(groups) != n_images:
        raise ValueError(f"groups has {len(groups)} labels but the evaluation has {n_images} images")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    derive = derive or (lambda values: values)
    if n_images == 0:
        nan = np.full(derive(np.asarray(metrics(np.zeros(0, dtype=np.int64)), dtype=np.float64)[None]).shape[1], np.nan)
        return nan, nan.copy()
    rng = np.random.default_rng(seed)
    values = np.array([metrics(s) for s in iter_bootstrap_samples(groups, n_images, n_boot, rng)], dtype=np.float64)
    values = derive(values.reshape(n_boot, -1))
    low, high = np.full(values.shape[1], np.nan), np.full(values.shape[1], np.nan)
    for j in range(values.shape[1]):
        col = values[:, j]
        col = col[np.isfinite(col) & (col >= 0)]
        if col.size:
            low[j], high[j] = np.percentile(col, [50 * alpha, 100 - 50 * alpha])
    return low, high
