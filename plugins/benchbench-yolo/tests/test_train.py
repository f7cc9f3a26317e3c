"""Real (tiny) trainings with ultralytics: conformance, determinism, save/load, offline, mAP."""

from __future__ import annotations

import csv
import math

import pytest
from benchbench.api import coco_stats
from benchbench.testing import check_detector, curve_context, forbid_network, make_context, tiny_frames

from benchbench_yolo.detector import YoloDetector


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One small training shared by the tests below, run with the network blocked."""
    params = {"model": "yolov8n.yaml", "width": 0.125, "imgsz": 64, "batch": 8, "epochs": 4,
              "train_args": {"mosaic": 0.0, "warmup_epochs": 0.0}}
    train, test = tiny_frames(n=48, size=64, seed=0), tiny_frames(n=16, size=64, seed=1)
    det = YoloDetector(**params)
    ctx = make_context(tmp_path_factory.mktemp("trained"), seed=0)
    with pytest.MonkeyPatch.context() as mp:
        forbid_network(mp)
        det.fit(train, None, ctx)
        preds = det.predict(test, ctx)
    return {"det": det, "ctx": ctx, "params": params, "test": test, "preds": preds}


def test_conformance(tmp_path, tiny_params, no_network):
    # One epoch of a quarter-width YOLO on CPU does not localise cracks yet: the meaning check (top boxes
    # overlap the truth) is off here; test_short_training_reaches_useful_map checks a longer fit localises.
    report = check_detector(lambda: YoloDetector(**tiny_params, epochs=1), tmp_path=tmp_path, meaning=False)
    assert report["name"] == "yolo" and len(report["boxes"]) == 8


def test_predictions_are_finite_scored_pixel_boxes(trained):
    preds, test = trained["preds"], trained["test"]
    assert len(preds) == len(test)
    assert sum(len(b) for b in preds) > 0  # conf 0.001: an undertrained model still ranks candidates
    for boxes, frame in zip(preds, test, strict=True):
        assert len(boxes) <= trained["params"].get("max_det", 100)
        for b in boxes:
            assert all(math.isfinite(v) for v in (b.x, b.y, b.w, b.h, b.score))
            assert 0 <= b.x and b.x + b.w <= frame.width and 0 <= b.y and b.y + b.h <= frame.height
            assert 0.001 <= b.score <= 1.0 and b.label == "crack"


def test_training_lowers_the_loss(trained):
    rows = list(csv.DictReader(open(trained["ctx"].work_dir / "yolo" / "train" / "results.csv")))
    rows = [{k.strip(): v for k, v in r.items()} for r in rows]
    # Thin cracks get no positive anchors until predicted boxes overlap them enough (v8's wide initial
    # DFL boxes need ~20 epochs for that): the classification loss is the one that falls from the start.
    cls = [float(r["train/cls_loss"]) for r in rows]
    assert len(cls) == trained["params"]["epochs"]
    assert min(cls[1:]) < cls[0], cls


def test_effective_parameters_are_recorded(trained):
    params, info = trained["det"].params(), trained["ctx"].info["yolo"]
    assert params["optimizer"] == "AdamW" and params["lr"] == pytest.approx(0.002)  # ultralytics' auto choice
    assert params["epochs_run"] == 4 and params["weights"] in ("best.pt", "last.pt")
    assert params["width"] == 0.125 and params["nbs"] == 8 and params["device"] == "cpu"
    assert info["train_frames"] == 48 and info["seconds_per_epoch"] > 0
    work = trained["ctx"].work_dir / "yolo"
    assert (work / "model.safetensors").is_file() and (work / "train" / "weights" / "last.pt").is_file()
    assert (work / "config" / "Ultralytics" / "Arial.ttf").is_file()


def test_fresh_instance_predicts_identically_from_work_dir(trained, no_network):
    fresh = YoloDetector(**trained["params"])
    assert fresh.predict(trained["test"], trained["ctx"]) == trained["preds"]


def test_a_learning_curve_scores_the_fit_without_changing_it(trained, tmp_path, no_network):
    det = YoloDetector(**trained["params"])
    ctx, curve = curve_context(tmp_path, trained["test"], curve=(0.5, 1.0))
    det.fit(tiny_frames(n=48, size=64, seed=0), None, ctx)
    assert [(p["epochs"], p["steps"]) for p in curve] == [(2, 12), (4, 24)]  # 48 frames, batch 8: 6 steps/epoch
    assert det.predict(trained["test"], ctx) == trained["preds"]  # predicting mid-training changed nothing
    # without validation the last epoch is the cell's model: its checkpoint is scored like the cell
    assert curve[-1]["mAP50"] == pytest.approx(coco_stats(trained["test"], trained["preds"])["AP50"])


def test_fine_tune_a_local_checkpoint_with_validation(trained, tmp_path, no_network):
    # A .pt path as model (never a hub name): loaded with weights_only=True, then validated on val.
    ckpt = trained["ctx"].work_dir / "yolo" / "train" / "weights" / "last.pt"
    det = YoloDetector(model=str(ckpt), imgsz=64, batch=8, epochs=1, patience=5)
    ctx = make_context(tmp_path, seed=1)
    det.fit(tiny_frames(n=16, size=64, seed=2), tiny_frames(n=8, size=64, seed=3), ctx)
    assert ctx.info["yolo"]["validated"] is True and ctx.info["yolo"]["val_frames"] == 8
    assert det.params()["model_kind"] == "checkpoint"
    preds = det.predict(tiny_frames(n=4, size=64, seed=4), ctx)
    assert len(preds) == 4


@pytest.mark.slow
def test_short_training_reaches_useful_map(tmp_path, no_network, one_thread_torch):
    # ~1.5 CPU-minutes: a quarter-width YOLOv8n, the settings measured for the CPU quickstart, scaled down,
    # against the same fit stopped after one (warm-up) epoch: the untrained baseline.
    params = {"model": "yolov8n.yaml", "width": 0.0625, "imgsz": 128, "batch": 8,
              "optimizer": "AdamW", "lr": 0.004, "train_args": {"mosaic": 0.0, "warmup_epochs": 1.0}}
    train, test = tiny_frames(n=192, size=128, seed=0), tiny_frames(n=64, size=128, seed=1)  # other specimens

    def fit(epochs: int, folder: str):
        det, ctx = YoloDetector(**params, epochs=epochs), make_context(tmp_path / folder, seed=0)
        det.fit(train, None, ctx)
        return det, ctx, det.predict(test, ctx)

    *_, untrained = fit(1, "untrained")
    _, ctx, preds = fit(40, "trained")
    base, got = coco_stats(test, untrained, [0.1]), coco_stats(test, preds, [0.1])
    base50, got50 = coco_stats(test, untrained)["AP50"], coco_stats(test, preds)["AP50"]
    # Why these levels are safe. This tiny YOLO learns late and by a jump: boxes overlap the thin cracks
    # only after some epochs, and when depends on the run's last bits (seed, library builds, threads).
    # At 20 epochs (this test until issue 25) seeds 0-4 gave AP@0.1 0.56/0.42/0.62/0.02/0.63 and AP50
    # 0.23/0.07/0.19/0.008/0.24: seed 3 had not jumped yet, as on an install where this test failed
    # (AP50 0.0097). Seed 3 gives AP@0.1 0.55 at 30 epochs and 0.60 at 40, so this test trains 40; as
    # written (seed 0, one thread) it measures AP@0.1 0.52, AP50 0.10; untrained: 0.00 and 0.00.
    # AP@0.1 carries the margin (0.25, half the lowest trained value): AP50 on 3-7 px wide boxes moves
    # with every pixel of box error, so it is only asked to beat the untrained model.
    assert got["AP"] > base["AP"] + 0.25, (got, base)
    assert got50 > base50, (got50, base50)
    assert YoloDetector(**params, epochs=40).predict(test, ctx) == preds  # reload: identical
