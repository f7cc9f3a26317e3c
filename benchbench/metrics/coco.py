"""COCO bbox evaluation that reproduces pycocotools' ``COCOeval(iouType="bbox")``: the :class:`CocoEval` evaluator.

The evaluation runs in two steps so that bootstrap resamples stay cheap, each in its own module:

* ``matching.match`` runs the greedy matching once for every (category, image, area
  range, IoU threshold) and keeps, per detection, whether it is a true
  positive, a false positive or ignored, plus per-image counts of non-ignored
  ground truth (the COCO dicts reach it as arrays through ``cocoparse``).
* ``prcurves.accumulate`` turns those tables into precision/recall arrays for any
  multiset of images (a bootstrap resample lists image positions with
  repetition), without matching again.

COCO files on disk are read and checked by ``cocofiles``.

Semantics follow pycocotools 2.0 exactly, including its quirks: a gt whose
annotation ``id`` is 0 can be matched but never counts as a true positive
(pycocotools stores the matched gt id and tests it for truthiness), the
``ignore`` field of gt annotations is replaced by ``iscrowd``, and detections
whose category is not in the gt categories are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchbench.metrics.cocoparse import parse_dt, parse_gt
from benchbench.metrics.matching import AREA_LABELS, MEASURES, MatchTables, match
from benchbench.metrics.prcurves import RECALL_THRESHOLDS, accumulate, ap_function, recall_at

STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
DEFAULT_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)

# name -> (is_ap, iou threshold or None for all, area index, maxDets index)
_STAT_SPECS: dict[str, tuple[bool, float | None, int, int]] = {
    "AP": (True, None, 0, 2),
    "AP50": (True, 0.5, 0, 2),
    "AP75": (True, 0.75, 0, 2),
    "APs": (True, None, 1, 2),
    "APm": (True, None, 2, 2),
    "APl": (True, None, 3, 2),
    "AR1": (False, None, 0, 0),
    "AR10": (False, None, 0, 1),
    "AR100": (False, None, 0, 2),
    "ARs": (False, None, 1, 2),
    "ARm": (False, None, 2, 2),
    "ARl": (False, None, 3, 2),
}


def _mean_defined(values: np.ndarray) -> float:
    defined = values[values > -1]
    return float(np.mean(defined)) if defined.size else -1.0


class CocoEval:
    """COCO bbox evaluation whose matching is done once and reused for any image sample."""

    def __init__(self, tables: MatchTables, image_ids: list[Any], range_names: Sequence[str] = ()) -> None:
        self._tables = tables
        self._image_ids = image_ids
        self._range_index = {name: len(AREA_LABELS) + i for i, name in enumerate(range_names)}

    @classmethod
    def from_coco(
        cls,
        gt: dict[str, Any],
        dt: Sequence[dict[str, Any]],
        iou_thresholds: Sequence[float] | None = None,
        size_ranges: dict[str, tuple[str, float, float]] | None = None,
    ) -> CocoEval:
        """Match a COCO gt dict against a COCO results list.

        ``size_ranges``: name -> (measure, low, high), evaluated besides COCO's area ranges;
        measure is one of ``MEASURES``.
        """
        thresholds = _check_thresholds(iou_thresholds)
        extra = dict(size_ranges or {})
        for name, (measure, lo, hi) in extra.items():
            if measure not in MEASURES or not lo <= hi:
                raise ValueError(f"size range {name!r}: need a measure in {MEASURES} and low <= high")
        parsed_gt = parse_gt(gt)
        tables = match(parsed_gt, parse_dt(dt, parsed_gt), thresholds, tuple(extra.values()))
        return cls(tables, parsed_gt.image_ids, tuple(extra))

    @property
    def tables(self) -> MatchTables:
        """The match tables, for analyses beyond the COCO stats (error breakdown, galleries)."""
        return self._tables

    def area_index(self, range_name: str | None) -> int:
        """Position of a size range on the tables' area axis; None is COCO's "all"."""
        if range_name is None:
            return 0
        if range_name not in self._range_index:
            raise ValueError(f"unknown size range {range_name!r}; have {', '.join(self._range_index) or 'none'}")
        return self._range_index[range_name]

    def iou_positions(self, iou: float | Sequence[float] | None) -> np.ndarray:
        """Threshold positions of one IoU (the equal one, else one within 1e-9), of several IoUs, or
        of all thresholds for None."""
        thresholds = self._tables.iou_thresholds
        if iou is None:
            return np.arange(thresholds.size)
        if not isinstance(iou, int | float):
            return np.concatenate([self.iou_positions(float(t)) for t in iou] or [np.zeros(0, np.int64)])
        close = np.flatnonzero(thresholds == iou)
        if close.size == 0:
            close = np.flatnonzero(np.isclose(thresholds, iou, rtol=0.0, atol=1e-9))
        if close.size == 0:
            available = ", ".join(f"{t:g}" for t in thresholds)
            raise ValueError(f"IoU threshold {iou:g} is not configured; available: {available}")
        return close[:1]

    def aps(self, specs: Sequence[tuple[float | Sequence[float] | None, str | None]],
            sample: np.ndarray | None = None) -> np.ndarray:
        """AP for each (IoU, IoUs to average over, or None for all thresholds; size range or None for all)."""
        return self.ap_function(specs)(sample)

    def ap_function(
        self, specs: Sequence[tuple[float | Sequence[float] | None, str | None]]
    ) -> Callable[[np.ndarray | None], np.ndarray]:
        """``aps`` with the specs resolved once: what a bootstrap calls for every resample."""
        resolved = [(self.iou_positions(iou), self.area_index(r)) for iou, r in specs]
        return ap_function(self._tables, resolved)

    @property
    def image_ids(self) -> list[Any]:
        """Image ids in evaluation order (sorted); sample positions index this list."""
        return list(self._image_ids)

    @property
    def iou_thresholds(self) -> np.ndarray:
        return self._tables.iou_thresholds.copy()

    def stats(self, sample: np.ndarray | None = None) -> dict[str, float]:
        """The 12 COCO summary stats for all images, or for a sample of image positions."""
        every = np.arange(self._tables.iou_thresholds.size)
        # AR1 and AR10 need no precision curves: only maxDets 100 is accumulated in full.
        precision, recall = accumulate(self._tables, sample, every, (0, 1, 2, 3), (2,))
        few = recall_at(self._tables, sample, every, 0, (0, 1))
        out = {}
        for name in STAT_NAMES:
            is_ap, iou, area, maxdet = _STAT_SPECS[name]
            thr = self._thr_positions(iou)
            if is_ap:
                values = precision[thr][:, :, :, area, 0]
            else:
                values = recall[thr][:, :, area, 0] if maxdet == 2 else few[thr][:, :, maxdet]
            out[name] = _mean_defined(values)
        return out

    def stat(self, name: str, sample: np.ndarray | None = None) -> float:
        """One summary stat, accumulating only the slice it needs (fast for bootstraps)."""
        if name not in _STAT_SPECS:
            raise ValueError(f"unknown stat {name!r}; expected one of {', '.join(STAT_NAMES)}")
        is_ap, iou, area, maxdet = _STAT_SPECS[name]
        thr = self._thr_positions(iou)
        if thr.size == 0:
            return -1.0
        if not is_ap:
            return _mean_defined(recall_at(self._tables, sample, thr, area, (maxdet,)))
        precision, _ = accumulate(self._tables, sample, thr, (area,), (maxdet,))
        return _mean_defined(precision)

    def ap_at(self, iou: float, sample: np.ndarray | None = None) -> float:
        """AP at one configured IoU threshold (area all, maxDets 100); -1 without gt."""
        precision, _ = accumulate(self._tables, sample, self.iou_positions(iou), (0,), (2,))
        return _mean_defined(precision)

    def pr_curve(self, iou: float) -> np.ndarray:
        """Interpolated precision at the 101 recall points (area all, maxDets 100), mean over the
        categories with gt; all -1 without gt."""
        precision, _ = accumulate(self._tables, None, self.iou_positions(iou), (0,), (2,))
        curves = precision[0, :, :, 0, 0]
        defined = curves[:, (curves > -1).all(axis=0)]
        return defined.mean(axis=1) if defined.size else -np.ones(RECALL_THRESHOLDS.size)

    def _thr_positions(self, iou: float | None) -> np.ndarray:
        thresholds = self._tables.iou_thresholds
        # Exact equality, as pycocotools' summarize() uses.
        return np.arange(thresholds.size) if iou is None else np.flatnonzero(thresholds == iou)


def evaluate(
    gt: dict[str, Any], dt: Sequence[dict[str, Any]], iou_thresholds: Sequence[float] | None = None
) -> dict[str, float]:
    """The 12 COCO bbox stats of ``dt`` against ``gt``, as pycocotools computes them."""
    return CocoEval.from_coco(gt, dt, iou_thresholds).stats()


def _check_thresholds(iou_thresholds: Sequence[float] | None) -> np.ndarray:
    if iou_thresholds is None:
        return DEFAULT_IOU_THRESHOLDS.copy()
    thresholds = np.asarray(iou_thresholds, dtype=np.float64)
    if thresholds.ndim != 1 or thresholds.size == 0:
        raise ValueError("iou_thresholds must be a non-empty list of numbers")
    if not np.all((thresholds > 0) & (thresholds <= 1)):
        raise ValueError(f"iou_thresholds must lie in (0, 1], got {thresholds.tolist()}")
    return thresholds

