"""The operating point: one score threshold, chosen on validation frames, and what it gives on test.

A crack counts as found when a kept box (score > threshold) matches it at IoU ``iou`` in the COCO
matching (area "all", maxDets 100); kept boxes matched to nothing are false alarms; boxes matched
to crowd gt are neither. The threshold maximising that crack-level F1 on the validation frames is
used on the test frames, never chosen there: the test scores stay unbiased.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchbench.metrics.coco import CocoEval
from benchbench.metrics.prcurves import sample_detections

CRACK_COUNTS = ("tp", "fp", "cracks")  # per-frame columns of crack_counts
ECE_BINS = 10


def _scored(ev: CocoEval, iou: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(score, is tp, is fp, image position) of every detection, highest score first."""
    tables, t = ev.tables, int(ev.iou_positions(iou)[0])
    weights = np.ones(tables.n_images, dtype=np.int64)
    order = np.concatenate([sample_detections(tables, k, np.arange(tables.n_images), weights)
                            for k in range(tables.n_categories)] or [np.zeros(0, np.int64)])
    order = order[np.argsort(-tables.score[order], kind="stable")]
    return tables.score[order], tables.tp[0, t][order], tables.fp[0, t][order], tables.img[order]


def best_f1_threshold(ev: CocoEval, iou: float) -> tuple[float, float]:
    """(threshold, crack-level F1) maximising F1 over thresholds; the highest such threshold on ties."""
    score, tp, fp, _ = _scored(ev, iou)
    n_gt = int(ev.tables.npig[:, 0].sum())
    # Keeping "score > s_j" keeps whole groups of equal scores: cut only where the score drops.
    ends = np.flatnonzero(np.r_[score[1:] != score[:-1], True]) if score.size else np.zeros(0, int)
    ctp, cfp = np.cumsum(tp)[ends], np.cumsum(fp)[ends]
    denom = ctp + cfp + n_gt
    f1 = np.where(denom > 0, 2 * ctp / np.maximum(denom, 1), 0.0)
    if f1.size == 0 or f1.max() <= 0:
        return 1.0, 0.0  # nothing found at any threshold: keeping nothing is as good as anything
    j = int(np.argmax(f1))
    # The next lower score keeps group j and drops the rest; below the last, keep everything.
    threshold = float(score[ends[j] + 1]) if ends[j] + 1 < score.size else float(min(0.0, score[-1] - 1e-12))
    return threshold, float(f1[j])


def crack_counts(ev: CocoEval, iou: float, threshold: float) -> np.ndarray:
    """(images, CRACK_COUNTS): kept boxes matched, kept boxes unmatched, cracks (non-crowd gt)."""
    tables = ev.tables
    score, tp, fp, img = _scored(ev, iou)
    kept = score > threshold
    out = np.zeros((tables.n_images, len(CRACK_COUNTS)), dtype=np.int64)
    np.add.at(out[:, 0], img[kept & tp], 1)
    np.add.at(out[:, 1], img[kept & fp], 1)
    out[:, 2] = tables.npig[:, 0].sum(axis=0)
    return out


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Precision, recall, F1; 0/0 is 0.0, as the frame metrics count it."""
    return {"precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0}


def crack_prf(counts: np.ndarray) -> dict[str, float]:
    tp, fp, cracks = np.asarray(counts).reshape(-1, len(CRACK_COUNTS)).sum(axis=0).tolist()
    return prf(tp, fp, cracks - tp)


def crack_f1(totals: np.ndarray) -> np.ndarray:
    """``crack_prf``'s F1 of each row of summed counts (..., CRACK_COUNTS), e.g. one per bootstrap
    resample; the same float as prf gives (integer counts are exact in float64)."""
    tp, fp, cracks = np.moveaxis(np.asarray(totals, dtype=np.float64), -1, 0)
    denominator = 2 * tp + fp + (cracks - tp)
    return np.where(denominator > 0, 2 * tp / np.where(denominator > 0, denominator, 1.0), 0.0)


def expected_calibration_error(ev: CocoEval, iou: float, bins: int = ECE_BINS) -> float | None:
    """ECE of box scores as the probability of matching a crack; None when scores leave [0, 1]."""
    score, tp, fp, _ = _scored(ev, iou)
    counted = tp | fp
    score, hit = score[counted], tp[counted]
    if score.size == 0 or score.min() < 0 or score.max() > 1:
        return None
    which = np.minimum((score * bins).astype(np.int64), bins - 1)
    n = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, hit.astype(float), bins) - np.bincount(which, score, bins))
    return float(gap.sum() / n.sum())


def choose_threshold(val_ev: CocoEval | None, iou: float, fallback: float) -> dict[str, Any]:
    """The operating threshold from the validation frames, or the matrix's when there are none."""
    if val_ev is None or not int(val_ev.tables.npig[:, 0].sum()):
        return {"threshold": fallback, "source": "matrix score_threshold (no validation frames)",
                "val_f1": None}
    threshold, f1 = best_f1_threshold(val_ev, iou)
    return {"threshold": threshold, "source": "validation F1-max", "val_f1": f1}
