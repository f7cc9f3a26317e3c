"""Score a detector's predictions on the held-out frames.

COCO stats (for parity), mAP and low-IoU APs with grouped bootstrap CIs, AP per crack-scale size
range, the error breakdown, an operating point chosen on validation frames, mask-based scores
where the frames have masks, and every metric per test specimen. The CIs of all metrics come from
one bootstrap pass (the same resamples for every metric). docs/results.md describes the output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from benchbench.data.export import to_coco_dict
from benchbench.frames import Box, FrameSet
from benchbench.jsonable import finite_or_none
from benchbench.metrics.bootstrap import grouped_bootstrap_cis
from benchbench.metrics.coco import DEFAULT_IOU_THRESHOLDS, CocoEval, evaluate
from benchbench.metrics.cocofiles import detection_problem
from benchbench.metrics.errors import error_breakdown, worst_images
from benchbench.metrics.frames import frame_metrics
from benchbench.metrics.masks import MASK_METRICS, hit_aps, mask_ratios, mask_scores, mask_section, score_masks
from benchbench.metrics.operating import choose_threshold, crack_counts, crack_f1, crack_prf, expected_calibration_error

# Metric name -> higher is better; written to results.json so comparisons know the direction.
DIRECTIONS = {"mAP50_95": True, "mAP50": True, "mAP75": True, "AR100": True,
              "precision": True, "recall": True, "f1": True, "auroc": True,
              "pixel_recall": True, "crack_recall": True, "box_precision": True, "op_f1": True, "hit_AP": True}

# Defaults fitted to the crack boxes of FLYD-S train+val (123 boxes) and the simulator (120 boxes):
# short sides run 3-17 px, median 6; these bounds split both roughly 25/50/25 %.
DEFAULT_SIZE_MEASURE = "short_side"
DEFAULT_SIZE_RANGES: dict[str, tuple[float, float | None]] = {
    "hairline": (0.0, 4.5), "thin": (4.5, 7.5), "wide": (7.5, None)}
OPEN_END = 1e10  # COCO's "no upper bound"
REUSED_THRESHOLD = "reused"  # operating_point.source when the threshold was given, not chosen


def iou_metric_name(t: float) -> str:
    return f"AP{round(t * 100):02d}"


def metric_directions(iou_thresholds: Iterable[float]) -> dict[str, bool]:
    """Metric name -> higher is better, for every metric the evaluator writes (with the matrix's
    ``metrics.iou_thresholds``)."""
    return DIRECTIONS | {iou_metric_name(t): True for t in iou_thresholds}


# float64/float32 convert exactly; bool is left to the per-box rule, which refuses it
_PLAIN_NUMBERS = {float, int, np.float64, np.float32, np.int64, np.int32}


def predictions_to_coco(preds: list[list[Box]]) -> list[dict[str, Any]]:
    """COCO detections of a detector's boxes, checked by the rule ``bench eval`` applies to a file."""
    rows = [(b.x, b.y, b.w, b.h, b.score) for boxes in preds for b in boxes]
    # Numbers pass one vectorised check (a per-box check was a tenth of a cell's evaluation);
    # anything else, or a failed check, takes the per-box rule, which names the box.
    if {type(v) for row in rows for v in row} <= _PLAIN_NUMBERS:
        values = np.array(rows, dtype=np.float64).reshape(-1, 5)
        if (np.isfinite(values).all() and (values[:, 2:4] >= 0).all()
                and ((values[:, 4] >= 0) & (values[:, 4] <= 1)).all()):
            image_ids = [i + 1 for i, boxes in enumerate(preds) for _ in boxes]
            return [{"image_id": i, "category_id": 1, "bbox": row[:4], "score": row[4]}
                    for i, row in zip(image_ids, values.tolist(), strict=True)]
    return _checked_one_by_one(preds)


def drop_degenerate(preds: list[list[Box]]) -> tuple[list[list[Box]], int]:
    """The boxes with an area (w and h not 0), and how many zero-area ones were dropped.

    A zero-area box matches no crack at any IoU and cannot be drawn; a detector that clamps a box
    to the image edge makes them. Other bad boxes (negative, not finite) stay for
    :func:`predictions_to_coco`, which refuses them with the box named.
    """
    kept, dropped = [], 0
    for boxes in preds:
        ok = [b for b in boxes if not (_is_zero(getattr(b, "w", None)) or _is_zero(getattr(b, "h", None)))]
        dropped += len(boxes) - len(ok)
        kept.append(ok)
    return kept, dropped


def _is_zero(value: Any) -> bool:
    try:
        return bool(value == 0)
    except (TypeError, ValueError):  # not a number: predictions_to_coco names it
        return False


def _checked_one_by_one(preds: list[list[Box]]) -> list[dict[str, Any]]:
    out = []
    for i, boxes in enumerate(preds):
        for k, b in enumerate(boxes):
            det = {"image_id": i + 1, "category_id": 1, "bbox": [_plain(v) for v in (b.x, b.y, b.w, b.h)],
                   "score": _plain(b.score)}
            problem = detection_problem(det)
            if problem:
                raise ValueError(f"detector returned an invalid box (test frame {i}, box {k}): {problem}")
            out.append(det)
    return out


def coco_stats(frames: FrameSet, preds: list[list[Box]], iou_thresholds: Sequence[float] | None = None
               ) -> dict[str, float]:
    """The 12 COCO bbox stats (``AP``, ``AP50``, ``AR100`` ...) of a detector's boxes on ``frames``.

    ``preds`` holds one list of boxes per frame, in frame order, as ``Detector.predict`` returns.
    With ``iou_thresholds`` (e.g. ``[0.1]``) ``AP`` averages over those thresholds only.
    """
    return evaluate(to_coco_dict(frames), predictions_to_coco(preds), iou_thresholds)


def _plain(value: Any) -> Any:
    """A numpy/torch scalar as the Python number its JSON holds (store._json_default); else unchanged."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def size_range_specs(ranges: dict[str, Sequence[float | None]] | None, measure: str
                     ) -> dict[str, tuple[str, float, float]]:
    """Matrix size ranges -> CocoEval's name -> (measure, low, high); None is open-ended."""
    ranges = DEFAULT_SIZE_RANGES if ranges is None else ranges
    return {name: (measure, float(lo or 0.0), OPEN_END if hi is None else float(hi))
            for name, (lo, hi) in ranges.items()}


def evaluate_predictions(test: FrameSet, preds: list[list[Box]], *, iou_thresholds: list[float],
                         score_threshold: float = 0.5, n_boot: int = 1000, seed: int = 0,
                         size_ranges: dict[str, Sequence[float | None]] | None = None,
                         size_measure: str = DEFAULT_SIZE_MEASURE, operating_iou: float = 0.1,
                         hit_cover: float = 0.5, hit_distance: float = 3.0,
                         val: FrameSet | None = None, val_preds: list[list[Box]] | None = None,
                         operating_threshold: float | None = None) -> dict[str, Any]:
    """The metrics of docs/results.md. ``operating_threshold`` (a threshold the cell already chose on its
    validation frames, e.g. read back by ``bench rescore``) is used instead of choosing one."""
    if len(preds) != len(test):
        raise ValueError(f"detector returned {len(preds)} prediction lists for {len(test)} frames")
    gt = to_coco_dict(test)
    dt = predictions_to_coco(preds)
    groups = [f.group for f in test]
    ranges = size_range_specs(size_ranges, size_measure)
    std = CocoEval.from_coco(gt, dt, size_ranges=ranges)  # COCO's thresholds: the 12 stats
    # Every other number comes from one matching at COCO's thresholds and the configured ones, so
    # that a bootstrap resample orders the detections and builds the curves once for all APs.
    coco_ious = tuple(DEFAULT_IOU_THRESHOLDS.tolist())
    ev = CocoEval.from_coco(gt, dt, iou_thresholds=sorted({*coco_ious, *iou_thresholds, operating_iou}),
                            size_ranges=ranges)
    metrics: dict[str, Any] = {"coco": std.stats()}

    # Every AP is one (IoU or IoUs to average over, size range or None for all) spec.
    ap_names = {"mAP50_95": (coco_ious, None), "mAP50": (0.5, None)}
    ap_names |= {iou_metric_name(t): (t, None) for t in iou_thresholds}
    for r in ranges:
        ap_names |= {f"mAP50@{r}": (0.5, r), f"mAP50_95@{r}": (coco_ious, r)}
        ap_names |= {f"{iou_metric_name(t)}@{r}": (t, r) for t in sorted(iou_thresholds)}
    # Per size range only mAP50 and the lowest-IoU AP get CIs: ten more curves per resample for
    # mAP50_95 would double a cell's evaluation time (issue #14 allows +20 %).
    lowest = iou_metric_name(min(iou_thresholds)) if iou_thresholds else None
    with_ci = [n for n in ap_names if "@" not in n or n.split("@")[0] in ("mAP50", lowest)]
    rest = [n for n in ap_names if n not in with_ci]
    point_only = dict(zip(rest, map(finite_or_none, ev.aps([ap_names[n] for n in rest])), strict=True))

    op = (_operating_point(val, val_preds, operating_iou, score_threshold) if operating_threshold is None
          else {"threshold": operating_threshold, "source": REUSED_THRESHOLD, "val_f1": None})
    cracks = crack_counts(ev, operating_iou, op["threshold"])
    masks, hits = score_masks(test, preds, op["threshold"], hit_cover, hit_distance) or (None, None)
    ratio_names = ["op_f1", *(MASK_METRICS if masks is not None else ())]

    per_frame = cracks if masks is None else np.hstack([cracks, masks])
    aps = ev.ap_function([ap_names[n] for n in with_ci])
    ap_like = with_ci + (["hit_AP"] if hits is not None else [])

    def raw(sample: np.ndarray | None) -> np.ndarray:
        """The APs of one resample and how often it draws each frame: the counts and the hit AP are
        computed from the draws of all resamples at once (``derive``)."""
        draws = np.ones(len(test)) if sample is None else np.bincount(sample, minlength=len(test))
        return np.concatenate((aps(sample), draws))

    def derive(values: np.ndarray) -> np.ndarray:
        """(resamples, raw) -> (resamples, names)."""
        draws = values[:, len(with_ci) :]
        counts = draws @ per_frame
        parts = [values[:, : len(with_ci)]]
        if hits is not None:
            parts.append(hit_aps(hits, draws)[:, None])
        parts.append(crack_f1(counts[:, : cracks.shape[1]])[:, None])
        if masks is not None:
            parts.append(mask_ratios(counts[:, cracks.shape[1] :]))
        return np.hstack(parts)

    names = ap_like + ratio_names
    point = derive(raw(None)[None])[0]
    if n_boot:
        lo_ci, hi_ci = grouped_bootstrap_cis(groups, len(test), raw, n_boot=n_boot, seed=seed, derive=derive)
    else:
        lo_ci = hi_ci = np.full(len(names), np.nan)
    value = {n: {"value": finite_or_none(v), "ci": [finite_or_none(a), finite_or_none(b)]}
             for n, v, a, b in zip(names, point, lo_ci, hi_ci, strict=True)}
    value |= {n: {"value": v} for n, v in point_only.items()}

    for name in ("mAP50_95", "mAP50", *map(iou_metric_name, iou_thresholds)):
        metrics[name] = value[name]
    metrics["mAP75"] = {"value": metrics["coco"]["AP75"]}
    metrics["AR100"] = {"value": metrics["coco"]["AR100"]}
    top = [max((b.score for b in boxes), default=0.0) for boxes in preds]
    positive = [f.label == "crack" for f in test]
    metrics["frame"] = frame_metrics(positive, top, threshold=score_threshold)
    metrics["sizes"] = _sizes_section(std, ranges, size_measure, value, iou_thresholds)
    breakdown = error_breakdown(std)
    per_image = breakdown.pop("per_image")
    worst = worst_images(per_image, list(range(len(test))))
    metrics["errors"] = {**breakdown, "worst_frames": [{"frame": test[w.pop("image_id")].stem, **w} for w in worst]}
    frame_op = frame_metrics(positive, top, threshold=op["threshold"])
    metrics["operating_point"] = {
        **op, "iou": operating_iou,
        "frame": {k: frame_op[k] for k in ("precision", "recall", "f1", "tp", "fp", "fn", "tn")},
        "crack": {**crack_prf(cracks), **dict(zip(("tp", "fp", "cracks"), cracks.sum(axis=0).tolist(), strict=True)),
                  "f1_ci": value["op_f1"]["ci"]},
        "ece": expected_calibration_error(ev, operating_iou)}
    metrics["masks"] = (mask_section(masks, op["threshold"], hit_cover, hit_distance,
                                     {n: tuple(value[n]["ci"]) for n in MASK_METRICS}) | {"hit_AP": value["hit_AP"]}
                        if masks is not None else {"available": False,
                                                   "reason": "test frames carry no crack masks"})
    metrics["groups"] = _group_slices(test, positive, top, score_threshold, ev, ap_names, cracks, masks, hits)
    return metrics


def _operating_point(val: FrameSet | None, val_preds: list[list[Box]] | None, iou: float,
                     fallback: float) -> dict[str, Any]:
    """The threshold from the validation frames' predictions, or the matrix's without them."""
    if not val or val_preds is None or not val.has_boxes():
        return choose_threshold(None, iou, fallback)
    if len(val_preds) != len(val):
        raise ValueError(f"detector returned {len(val_preds)} prediction lists for {len(val)} validation frames")
    ev = CocoEval.from_coco(to_coco_dict(val), predictions_to_coco(val_preds), iou_thresholds=[iou])
    return choose_threshold(ev, iou, fallback)


def _sizes_section(std, ranges, measure, value, iou_thresholds) -> dict[str, Any]:
    tables = std.tables
    out: dict[str, Any] = {"measure": measure, "ranges": {}}
    for r, (_, lo, hi) in ranges.items():
        a = std.area_index(r)
        names = ("mAP50_95", "mAP50", *map(iou_metric_name, iou_thresholds))
        out["ranges"][r] = {"bounds": [lo, None if hi >= OPEN_END else hi], "n_gt": int(tables.npig[:, a].sum()),
                            **{n: value[f"{n}@{r}"] for n in names}}
    return out


def _group_slices(test, positive, top, threshold, ev, ap_names, cracks, masks, hits) -> dict[str, Any]:
    """Every point metric per test specimen, with its counts."""
    out: dict[str, Any] = {}
    groups = np.array([f.group for f in test])
    names = [n for n in ap_names if "@" not in n]
    aps = ev.ap_function([ap_names[n] for n in names])
    specimens = sorted(set(groups.tolist()))
    if hits is not None:  # every specimen's hit AP in one call: a resample drawing its frames once
        hit_by_group = dict(zip(specimens, hit_aps(hits, np.array([groups == g for g in specimens])), strict=True))
    for g in specimens:
        sample = np.flatnonzero(groups == g)
        entry: dict[str, Any] = {"n_frames": int(sample.size), "n_cracked": int(np.sum(np.asarray(positive)[sample])),
                                 "n_cracks": int(cracks[sample, 2].sum())}
        entry |= {n: finite_or_none(v) for n, v in zip(names, aps(sample), strict=True)}
        fm = frame_metrics(np.asarray(positive)[sample], np.asarray(top)[sample], threshold=threshold)
        entry["frame"] = {k: finite_or_none(v) if isinstance(v, float) else v for k, v in fm.items()}
        entry["operating_point"] = crack_prf(cracks[sample])
        if masks is not None:
            entry["masks"] = mask_scores(masks[sample]) | {"hit_AP": finite_or_none(hit_by_group[g])}
        out[g] = entry
    return out
