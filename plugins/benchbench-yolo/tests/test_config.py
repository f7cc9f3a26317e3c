"""Parameter checks and model resolution: fast, and none of it may import torch."""

from __future__ import annotations

import json

import pytest
from benchbench.api import UserError
from benchbench.testing import heavy_imports, installed_entry

from benchbench_yolo.config import resolve_model
from benchbench_yolo.detector import YoloDetector


def test_config_names_resolve_to_one_fixed_scale():
    spec = resolve_model("yolov8n.yaml")
    assert spec.kind == "config" and spec.scale == "n"
    assert spec.config["scales"] == {"custom": [0.33, 0.25, 1024]}
    assert resolve_model("yolo11s.yaml").config["scales"] == {"custom": [0.5, 0.5, 1024]}
    narrow = resolve_model("yolov8n.yaml", width=0.125, depth=0.2)
    assert narrow.config["scales"] == {"custom": [0.2, 0.125, 1024]}
    assert resolve_model("yolov8.yaml", scale="s").config["scales"] == {"custom": [0.33, 0.5, 1024]}


def test_local_yaml_config(tmp_path):
    src = resolve_model("yolov8n.yaml").path
    local = tmp_path / "my-yolov8s.yaml"
    local.write_text(src.read_text())
    spec = resolve_model(str(local))
    assert spec.path == local.resolve() and spec.scale == "s"


@pytest.mark.parametrize(("model", "match"), [
    ("yolov99n.yaml", "unknown ultralytics model config"),
    ("yolov8n-cls.yaml", "not a YOLO detection config"),
    ("rtdetr-l.yaml", "not a YOLO detection config"),
    ("yolov8n.pt", "YOLO checkpoint not found"),  # a hub name: never downloaded
    ("./missing/best.pt", "YOLO checkpoint not found"),
    ("yolov8n", "neither a .yaml config nor a local .pt"),
    ("./nowhere/model.yaml", "model config not found"),
])
def test_bad_models_are_one_line_user_errors(model, match):
    with pytest.raises(UserError, match=match) as info:
        YoloDetector(model=model)
    assert "\n" not in str(info.value) and info.value.field in ("model", "scale")


@pytest.mark.parametrize(("params", "field"), [
    ({"imgsz": 100}, "imgsz"), ({"epochs": 0}, "epochs"), ({"batch": 1.5}, "batch"),
    ({"conf": 1.0}, "conf"), ({"iou": -0.1}, "iou"), ({"lr": 2}, "lr"), ({"optimizer": "lbfgs"}, "optimizer"),
    ({"device": "gpu"}, "device"), ({"scale": "q"}, "scale"), ({"width": 0}, "width"),
    ({"train_args": {"epochs": 3}}, "train_args"), ({"train_args": {"mosiac": 0}}, "train_args"),
])
def test_bad_parameters_are_user_errors(params, field):
    with pytest.raises(UserError) as info:
        YoloDetector(**params)
    assert info.value.field == field


def test_checkpoint_model_refuses_scale(tmp_path):
    ckpt = tmp_path / "best.pt"
    ckpt.write_bytes(b"")
    assert YoloDetector(model=str(ckpt)).spec.kind == "checkpoint"
    with pytest.raises(UserError, match="only apply when building from a yaml"):
        YoloDetector(model=str(ckpt), width=0.5)


def test_explicit_lr_selects_sgd():
    assert YoloDetector().optimizer == "auto"
    assert YoloDetector(lr=0.01).optimizer == "SGD"
    assert YoloDetector(lr=0.001, optimizer="AdamW").optimizer == "AdamW"


def test_params_are_json_and_complete():
    params = YoloDetector(width=0.125, train_args={"mosaic": 0.0}).params()
    json.dumps(params)
    assert params["width"] == 0.125 and params["depth"] == 0.33 and params["conf"] == 0.001
    assert params["train_args"] == {"mosaic": 0.0}


def test_predict_before_fit_is_a_user_error(tmp_path):
    from benchbench.testing import make_context, tiny_frames

    with pytest.raises(UserError, match="no trained YOLO weights"):
        YoloDetector().predict(tiny_frames(n=2), make_context(tmp_path))


def test_import_and_construction_leave_torch_out():
    # bench imports benchbench_yolo at start and the harness builds detectors to validate a matrix.
    code = ("import benchbench_yolo\n"
            "from benchbench_yolo.detector import YoloDetector\n"
            "YoloDetector(model='yolo11n.yaml', width=0.125)")
    assert heavy_imports(code, ("torch", "ultralytics")) == []


def test_entry_point_registers_yolo():
    entry = installed_entry("benchbench-yolo", "yolo")  # fails on load or register errors
    if entry is None:
        pytest.skip("benchbench-yolo is not installed (pip install -e plugins/benchbench-yolo)")
    assert entry.target == "benchbench_yolo.detector:YoloDetector"
    det = entry.create(model="yolov8n.yaml", epochs=3, imgsz=64)
    assert isinstance(det, YoloDetector) and det.params()["epochs"] == 3
    with pytest.raises(UserError):
        entry.create(epoch=3)  # a typo in a matrix row
