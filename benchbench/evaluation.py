"""Score a detector's predictions on the held-out frames: COCO stats, CIs, frame-level metrics."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchbench.api import Box, FrameSet

# Metric name -> higher is better; written to results.json so comparisons know the direction.
DIRECTIONS = {"mAP50_95": True, "mAP50": True, "mAP75": True, "AR100": True,
              "precision": True, "recall": True, "f1": True, "auroc": True}


def iou_metric_name(t: float) -> str:
    return f"AP{round(t * 100):02d}"


def predictions_to_coco(preds: list[list[Box]]) -> list[dict[str, Any]]:
    """COCO detections of a detector's boxes, checked by the rule ``bench eval`` applies to a file."""
    from benchbench.metrics.coco import detection_problem

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


def _plain(value: Any) -> Any:
    """A numpy/torch scalar as the Python number its JSON holds (store._json_default); else unchanged."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def evaluate_predictions(test: FrameSet, preds: list[list[Box]], *, iou_thresholds: list[float],
                         score_threshold: float = 0.5, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    from benchbench.data.export import to_coco_dict
    from benchbench.metrics.bootstrap import grouped_bootstrap_ci
    from benchbench.metrics.coco import CocoEval
    from benchbench.metrics.frames import frame_metrics

    if len(preds) != len(test):
        raise ValueError(f"detector returned {len(preds)} prediction lists for {len(test)} frames")
    gt = to_coco_dict(test)
    dt = predictions_to_coco(preds)
    groups = [f.group for f in test]
    std = CocoEval.from_coco(gt, dt)
    coco = std.stats()
    metrics: dict[str, Any] = {"coco": coco}

    def with_ci(name: str, ev: CocoEval, fn) -> None:
        value = float(fn(ev, None))
        ci = grouped_bootstrap_ci(ev, groups, fn, n_boot=n_boot, seed=seed) if n_boot else (None, None)
        metrics[name] = {"value": value, "ci": [_f(ci[0]), _f(ci[1])]}

    with_ci("mAP50_95", std, lambda ev, s: ev.stat("AP", s))
    with_ci("mAP50", std, lambda ev, s: ev.stat("AP50", s))
    metrics["mAP75"] = {"value": coco["AP75"]}
    metrics["AR100"] = {"value": coco["AR100"]}
    if iou_thresholds:
        low = CocoEval.from_coco(gt, dt, iou_thresholds=sorted(iou_thresholds))
        for t in iou_thresholds:
            with_ci(iou_metric_name(t), low, lambda ev, s, t=t: ev.ap_at(t, s))
    top = [max((b.score for b in boxes), default=0.0) for boxes in preds]
    metrics["frame"] = frame_metrics([f.label == "crack" for f in test], top, threshold=score_threshold)
    return metrics


def _f(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)
