"""Measure quickstart settings: fit on simulated 128 px frames, score held-out specimens.

    PYTHONPATH=. .venv/bin/python plugins/benchbench-detr/scripts/measure_quickstart.py \
        '{"epochs": 12, "threads": 1}' '{"epochs": 8, "size": "small", "threads": 1}'

Each argument is a JSON dict of detector params. The data is ``tiny_frames(600, size=128)``
(the simulator, seed 0). Sample6 and Sample7 are held out for test (157 frames), as FLYD-S holds out
the same specimens. The first 420 of the rest train and the remaining 23 validate. One
JSON line is printed per config.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from benchbench.api import CellContext, coco_stats
from benchbench.testing import tiny_frames

from benchbench_detr.detector import DetrDetector

TEST_GROUPS = ("Sample6", "Sample7")


def main(configs: list[dict]) -> None:
    frames = tiny_frames(600, size=128, seed=0)
    test = frames.filter(lambda f: f.group in TEST_GROUPS)
    rest = frames.filter(lambda f: f.group not in TEST_GROUPS)
    train, val = rest[:420], rest[420:]
    for params in configs:
        with tempfile.TemporaryDirectory() as tmp:
            ctx = CellContext(cell_id="measure", seed=0, work_dir=Path(tmp), cache_dir=Path(tmp) / "cache",
                              quiet=True)
            det = DetrDetector(**params)
            wall, cpu = time.perf_counter(), time.process_time()
            det.fit(train, val, ctx)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            preds = det.predict(test, ctx)
        stats = coco_stats(test, preds)
        ap10, ap30 = (coco_stats(test, preds, [iou])["AP"] for iou in (0.1, 0.3))
        epochs = ctx.info["detr_history"]["epochs_run"]
        print(json.dumps({
            "params": params, "n_train": len(train), "n_test": len(test), "epochs_run": epochs,
            "best_epoch": ctx.info["detr_history"]["best_epoch"],
            "fit_wall_s": round(wall, 1), "fit_cpu_s": round(cpu, 1),
            "cpu_s_per_epoch": round(cpu / max(epochs, 1), 1),
            "mAP50": round(stats["AP50"], 3), "mAP50_95": round(stats["AP"], 3),
            "AP10": round(ap10, 3), "AP30": round(ap30, 3),
        }), flush=True)


if __name__ == "__main__":
    main([json.loads(a) for a in sys.argv[1:]] or [{"epochs": 12, "threads": 1}])
