"""Fidelity: benchbench's ``yolo`` learns what plain ultralytics learns, in the same time.

One split of the real FLYD-S frames that holds none of the study's test specimens (the split of
examples/study/flyd-s-tune.yaml: train Sample1, 2, 4; held out Sample5), 3 seeds, the ``yolo`` row
of examples/study/flyd-s-study.yaml trained twice per seed in this one process (same threads):

- through benchbench: ``YoloDetector.fit`` / ``predict``, scored by the harness's COCO evaluator;
- by a direct ``ultralytics.YOLO(model.yaml).train(...)`` with the same arguments on the same
  exported frames, scored by ultralytics' own ``val()`` on the held-out frames.

The order alternates per seed so start-up costs do not favour one side. Targets: the mean mAP50
difference within seed noise (|Δ| ≤ 2 standard errors of the paired differences, or ≤ 0.02), and
benchbench's fit time / ultralytics' train time ≤ 1.05. --quick: 1 seed, 2 epochs, 64 px (smoke).
"""

from __future__ import annotations

import statistics
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from benchmarks import core
from benchmarks.core import BenchResult, Figure

NAME = "fidelity"
STUDY = core.ROOT / "examples" / "study" / "flyd-s-study.yaml"
ARCHIVE = core.ROOT.parent / "shared" / "data" / "flyd-s" / "FLYD-S-trainval.zip"
TRAIN, HELD_OUT = ("Sample1", "Sample2", "Sample4"), ("Sample5",)
SEEDS = (0, 1, 2)


def _row(quick: bool) -> dict[str, Any]:
    from benchbench.method.matrix import load_matrix

    matrix, _ = load_matrix(STUDY)
    row = next(d for d in matrix.detectors if d.name == "yolo").params
    if quick:
        row = {**row, "epochs": 2, "imgsz": 64}
    return row


def _frames(tmp: Path) -> tuple[Any, Any]:
    from benchbench.data.flyd import FlydDataset

    with zipfile.ZipFile(ARCHIVE) as zf:
        zf.extractall(tmp / "flyd-s")
    root = next((tmp / "flyd-s").rglob("dataset_flyd"))
    frames = FlydDataset(root, layout="masks").load()
    train = frames.filter(lambda f: f.group in TRAIN)
    return train, frames.filter(lambda f: f.group in HELD_OUT)


def _benchbench(row: dict[str, Any], train: Any, test: Any, seed: int, work: Path) -> tuple[float, float]:
    from benchbench_yolo.detector import YoloDetector

    from benchbench.api import CellContext
    from benchbench.method.evaluation import evaluate_predictions

    ctx = CellContext(f"fidelity-s{seed}", seed, work, work, device="cpu", quiet=True)
    det = YoloDetector(**row)
    t = time.perf_counter()
    det.fit(train, None, ctx)
    fit = time.perf_counter() - t
    preds = det.predict(test, ctx)
    return fit, evaluate_predictions(test, preds, iou_thresholds=[], n_boot=0)["mAP50"]["value"]


def _ultralytics(row: dict[str, Any], model_yaml: Path, train: Any, test: Any, seed: int,
                 work: Path) -> tuple[float, float]:
    from ultralytics import YOLO

    from benchbench.api import export_yolo

    data = export_yolo(train, work / "data", val=test)
    args = {**row.get("train_args", {}), "data": str(data), "epochs": row["epochs"], "imgsz": row["imgsz"],
            "batch": row.get("batch", 16), "optimizer": row.get("optimizer", "auto"), "seed": seed,
            "deterministic": True, "amp": False, "plots": False, "val": False, "workers": 0, "device": "cpu",
            "nbs": row.get("batch", 16), "project": str(work), "name": "train", "exist_ok": True, "verbose": False}
    if "lr" in row:
        args["lr0"] = row["lr"]
    model = YOLO(str(model_yaml))
    t = time.perf_counter()
    model.train(**args)
    fit = time.perf_counter() - t
    metrics = model.val(data=str(data), split="val", imgsz=row["imgsz"], batch=args["batch"], conf=0.001, iou=0.7,
                        device="cpu", plots=False, verbose=False, project=str(work), name="val")
    return fit, float(metrics.box.map50)


def run(quick: bool = False, profile: bool = True) -> BenchResult:
    from benchbench_yolo.offline import import_ultralytics

    res = BenchResult(NAME)
    if not ARCHIVE.is_file():
        res.add(Figure(NAME, "benchbench yolo vs plain ultralytics", None, "mAP50",
                       skipped=f"FLYD-S archive not found at {ARCHIVE}"))
        return res
    row = _row(quick)
    seeds = SEEDS[:1] if quick else SEEDS
    with tempfile.TemporaryDirectory(prefix="benchbench-fidelity-") as tmp_name:
        tmp = Path(tmp_name)
        train, test = _frames(tmp)
        import_ultralytics(tmp / "config")  # offline settings only; both sides use this one import
        from benchbench_yolo.detector import YoloDetector

        (tmp / "model").mkdir()
        model_yaml = Path(YoloDetector(**row)._model_file(tmp / "model"))  # the architecture benchbench builds
        runs = []
        for k, seed in enumerate(seeds):
            sides = {}
            for side in (("bb", "ul") if k % 2 == 0 else ("ul", "bb")):
                if side == "bb":
                    sides["bb"] = _benchbench(row, train, test, seed, tmp / f"bb-{seed}")
                else:
                    sides["ul"] = _ultralytics(row, model_yaml, train, test, seed, tmp / f"ul-{seed}")
            runs.append({"seed": seed, "benchbench_fit_s": sides["bb"][0], "benchbench_mAP50": sides["bb"][1],
                         "ultralytics_train_s": sides["ul"][0], "ultralytics_mAP50": sides["ul"][1]})
    diffs = [r["benchbench_mAP50"] - r["ultralytics_mAP50"] for r in runs]
    mean_diff = statistics.fmean(diffs)
    se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
    details = {"row": row, "train": TRAIN, "held_out": HELD_OUT, "n_train": len(train), "n_test": len(test),
               "runs": runs, "std_error": se}
    res.add(Figure(NAME, "mAP50: benchbench − ultralytics (mean over seeds)", mean_diff, "mAP50",
                   target="|Δ| <= max(2 SE, 0.02)", met=abs(mean_diff) <= max(2 * se if se == se else 0, 0.02),
                   details=details))
    ratio = sum(r["benchbench_fit_s"] for r in runs) / sum(r["ultralytics_train_s"] for r in runs)
    res.add(Figure(NAME, "fit time: benchbench / ultralytics", ratio, "x", target="<= 1.05", met=ratio <= 1.05))
    return res
