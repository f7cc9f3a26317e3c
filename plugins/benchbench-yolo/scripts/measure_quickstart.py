"""Measure what the yolo detector reaches on simulated frames within a CPU budget.

Usage: python plugins/benchbench-yolo/scripts/measure_quickstart.py '{"epochs": 10}' '{"epochs": 20, "width": 0.125}'

Each argument is a JSON dict of YoloDetector parameters (defaults: yolov8n.yaml, imgsz 128). Trains on
``--train`` simulated frames (seed 0) and evaluates COCO AP on ``--test`` held-out frames (seed 1: other
specimens), printing one JSON line per configuration with fit wall and CPU time (all threads; use it
when the machine is shared), time per epoch and AP/AP50.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchbench.api import coco_stats
from benchbench.testing import make_context, tiny_frames

from benchbench_yolo.detector import YoloDetector


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("configs", nargs="+", help="JSON dicts of YoloDetector parameters")
    ap.add_argument("--train", type=int, default=420)
    ap.add_argument("--test", type=int, default=180)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="work folder (default: a temp dir)")
    args = ap.parse_args()
    train = tiny_frames(args.train, size=args.size, seed=0)
    test = tiny_frames(args.test, size=args.size, seed=1)
    root = Path(args.out or tempfile.mkdtemp(prefix="yolo-measure-"))
    for i, raw in enumerate(args.configs):
        params = {"model": "yolov8n.yaml", "imgsz": args.size, **json.loads(raw)}
        det = YoloDetector(**params)
        ctx = make_context(root / f"cfg{i}", seed=args.seed)
        start, cpu = time.perf_counter(), time.process_time()
        det.fit(train, None, ctx)
        fit_s, fit_cpu = time.perf_counter() - start, time.process_time() - cpu
        start = time.perf_counter()
        preds = det.predict(test, ctx)
        pred_s = time.perf_counter() - start
        stats = coco_stats(test, preds)
        info = ctx.info["yolo"]
        print(json.dumps({"params": params, "fit_s": round(fit_s, 1), "fit_cpu_s": round(fit_cpu, 1),
                          "train_loop_s": info["fit_seconds"],
                          "s_per_epoch": info["seconds_per_epoch"], "predict_s": round(pred_s, 1),
                          "AP": round(stats["AP"], 4), "AP50": round(stats["AP50"], 4),
                          "AR100": round(stats["AR100"], 4)}), flush=True)


if __name__ == "__main__":
    main()
