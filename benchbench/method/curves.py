"""Learning curves: the harness's side of ``CellContext.checkpoint``.

With ``metrics.curve`` in the matrix, a detector that trains in steps hands the harness its model at
those shares of its training. :class:`CurveRecorder` predicts the test frames with it (ground truth
removed from the frames it hands over), scores them with the harness's own copy of the truth and
keeps one point per checkpoint for the cell's ``curve`` (docs/results.md). The points are reported,
never used: nothing (checkpoint, stopping epoch, setting) is chosen on a test score.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchbench.frames import Box, FrameSet
from benchbench.jsonable import finite_or_none
from benchbench.method.evaluation import evaluate_predictions, iou_metric_name, predictions_to_coco
from benchbench.protocols import CellContext, CheckpointPredict
from benchbench.records.store import atomic_write_json

DEFAULT_CURVE = (0.25, 0.5, 1.0)


def score_point(test: FrameSet, preds: list[list[Box]], eval_kwargs: dict[str, Any]) -> dict[str, Any]:
    """A curve point's scores of ``preds`` on ``test``: its metrics, and the same per test specimen.

    ``eval_kwargs`` are the matrix's ``metrics.eval_kwargs()``; a point has no bootstrap CI (it would
    multiply the cost of the curve by the resamples for a number nobody tests on).
    """
    metrics = evaluate_predictions(test, preds, **{**eval_kwargs, "n_boot": 0})
    names = ["mAP50_95", "mAP50", *map(iou_metric_name, eval_kwargs.get("iou_thresholds", []))]
    return {**_values(metrics, names), "groups": {g: _values(e, names) for g, e in metrics["groups"].items()}}


def _values(metrics: dict[str, Any], names: list[str]) -> dict[str, float | None]:
    """The curve's metrics from a cell's metrics or one specimen's slice of them (``hit_AP`` with masks)."""
    out = {n: finite_or_none(_value(metrics.get(n))) for n in names}
    masks = metrics.get("masks") or {}
    if "hit_AP" in masks:
        out["hit_AP"] = finite_or_none(_value(masks["hit_AP"]))
    return out


def _value(entry: Any) -> float | None:
    return entry.get("value") if isinstance(entry, dict) else entry


class CurveRecorder:
    """Scores each checkpoint's predictions on the test frames (:func:`score_point`); ``points`` is the
    cell's curve."""

    def __init__(self, test: FrameSet, eval_kwargs: dict[str, Any], work_dir: Path, cell_id: str):
        self.test, self.blind, self.kwargs = test, test.without_truth(), eval_kwargs
        self.folder, self.cell_id = Path(work_dir) / "curve", cell_id
        self.points: list[dict[str, Any]] = []
        self.seconds = 0.0

    def attach(self, ctx: CellContext, curve: tuple[float, ...]) -> CurveRecorder:
        """Ask ``ctx``'s detector for checkpoints at these shares of its training, scored here."""
        ctx.curve, ctx.on_checkpoint = tuple(curve), self
        return self

    def __call__(self, predict: CheckpointPredict, steps: int, epochs: float) -> None:
        if any(p["steps"] == steps for p in self.points):
            raise ValueError(f"the detector called ctx.checkpoint twice at {steps} steps")
        start = time.perf_counter()
        preds = predict(self.blind)
        if len(preds) != len(self.test):
            raise ValueError(f"checkpoint at {steps} steps: predict returned {len(preds)} prediction lists "
                             f"for {len(self.test)} frames")
        point = {"steps": steps, "epochs": epochs, **score_point(self.test, preds, self.kwargs)}
        name = f"predictions_s{steps}.json"
        # not fsynced: a lost file costs only the re-scoring of one point, the cell file holds its numbers
        atomic_write_json(self.folder / name, predictions_to_coco(preds), durable=False)
        self.seconds += time.perf_counter() - start
        self.points.append({**point, "predictions": f"work/{self.cell_id}/curve/{name}"})
        self.points.sort(key=lambda p: p["steps"])
