"""Evaluation metrics: COCO bbox stats, grouped bootstrap CIs, frame-level metrics.

Imports numpy only (no torch, no pycocotools), so the CLI stays fast.
"""

from benchbench.metrics.bootstrap import grouped_bootstrap_ci, iter_bootstrap_samples
from benchbench.metrics.coco import DEFAULT_IOU_THRESHOLDS, STAT_NAMES, CocoEval, evaluate
from benchbench.metrics.cocofiles import load_coco_json, load_results_json
from benchbench.metrics.frames import auroc, frame_metrics, frame_top_scores

__all__ = [
    "DEFAULT_IOU_THRESHOLDS",
    "STAT_NAMES",
    "CocoEval",
    "auroc",
    "evaluate",
    "frame_metrics",
    "frame_top_scores",
    "grouped_bootstrap_ci",
    "iter_bootstrap_samples",
    "load_coco_json",
    "load_results_json",
]
