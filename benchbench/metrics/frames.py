"""Frame-level detection metrics: is a frame cracked or not."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np


def frame_top_scores(image_ids: Sequence[Any], predictions: Iterable[Mapping[str, Any]]) -> np.ndarray:
    """Highest box score per image, in ``image_ids`` order; 0.0 for an image without boxes."""
    position = {image_id: i for i, image_id in enumerate(image_ids)}
    top = np.zeros(len(image_ids))
    for det in predictions:
        i = position.get(det["image_id"])
        if i is not None:
            top[i] = max(top[i], float(det["score"]))
    return top


def auroc(is_positive: Sequence[bool] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U), ties counted half; NaN with one class."""
    y = np.asarray(is_positive, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    # Average ranks make a tied (positive, negative) pair count one half.
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    below = np.cumsum(counts) - counts
    average_rank = below + (counts + 1) / 2.0
    rank_sum = float(average_rank[inverse][y].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def frame_metrics(
    is_positive: Sequence[bool], top_scores: Sequence[float], threshold: float = 0.5
) -> dict[str, float | int]:
    """Precision, recall, F1, AUROC and confusion counts over frames.

    A frame is predicted cracked when it has a box scoring above ``threshold``,
    i.e. its top score is > ``threshold`` (give 0.0 for a frame without boxes). 0/0 ratios are 0.0; ``auroc`` is NaN
    when only one class is present.
    """
    y = np.asarray(is_positive, dtype=bool)
    s = np.asarray(top_scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"is_positive and top_scores must be 1-D of equal length, got {y.shape} and {s.shape}")
    if np.isnan(s).any():
        raise ValueError("top_scores contains NaN")
    predicted = s > threshold
    tp = int(np.sum(predicted & y))
    fp = int(np.sum(predicted & ~y))
    fn = int(np.sum(~predicted & y))
    tn = int(np.sum(~predicted & ~y))
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "auroc": auroc(y, s),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }
