"""Parameters: effective values reported, bad values one-line user errors naming the field and the fix."""

from __future__ import annotations

import json

import pytest
from benchbench.api import UserError

from benchbench_detectron2.detector import Detectron2Detector


def test_defaults_name_the_config_file_and_are_json_able():
    p = Detectron2Detector().params()
    assert (p["model"], p["depth"], p["size"], p["config_file"]) == \
        ("faster_rcnn", 18, "full", "COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml")
    json.dumps(p)
    mask = Detectron2Detector(model="Mask_RCNN", depth=50, epochs=3).params()
    assert mask["config_file"].startswith("COCO-InstanceSegmentation/mask_rcnn") and mask["epochs"] == 3


@pytest.mark.parametrize("params, field", [
    ({"model": "yolo"}, "model"),
    ({"depth": 20}, "depth"),
    ({"size": "huge"}, "size"),
    ({"epochs": -1}, "epochs"),
    ({"epochs": 2.5}, "epochs"),
    ({"imgsz": 16}, "imgsz"),
    ({"batch": "8"}, "batch"),
    ({"lr": 0}, "lr"),
    ({"hflip": 2}, "hflip"),
    ({"schedule": "linear"}, "schedule"),
    ({"config": [1]}, "config"),
    ({"config": {"FPN": 1}}, "config"),
    ({"device": 1}, "device"),
    ({"epoch": 3}, "epoch"),
])
def test_bad_values_are_user_errors(params, field):
    with pytest.raises(UserError) as err:
        Detectron2Detector(**params)
    assert err.value.field == field and err.value.fix
    assert "\n" not in str(err.value)


def test_weights_must_be_a_local_checkpoint_file(tmp_path):
    with pytest.raises(UserError, match="not found") as err:
        Detectron2Detector(weights=str(tmp_path / "nope.pkl"))
    assert err.value.field == "weights"
    (tmp_path / "w.txt").write_text("x")
    with pytest.raises(UserError, match="not a checkpoint file"):
        Detectron2Detector(weights=str(tmp_path / "w.txt"))


def test_config_overrides_reach_the_config_and_bad_keys_fail_at_build():
    from benchbench_detectron2.models import build_config

    cfg = build_config(Detectron2Detector(size="small", config={"MODEL.ROI_BOX_HEAD.FC_DIM": 128})._p, "cpu")
    assert cfg.MODEL.ROI_BOX_HEAD.FC_DIM == 128 and cfg.MODEL.FPN.OUT_CHANNELS == 64  # row beats preset
    assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 1 and cfg.MODEL.RESNETS.RES2_OUT_CHANNELS == 64
    assert cfg.MODEL.RESNETS.NORM == cfg.MODEL.FPN.NORM == "GN" and cfg.MODEL.BACKBONE.FREEZE_AT == 0  # scratch
    with pytest.raises(UserError, match="MODEL.NOPE") as err:
        build_config(Detectron2Detector(config={"MODEL.NOPE": 1})._p, "cpu")
    assert err.value.field == "config"


def test_fingerprint_follows_params_and_weights(tmp_path):
    assert Detectron2Detector().fingerprint() == Detectron2Detector().fingerprint() != \
        Detectron2Detector(epochs=3).fingerprint()
    w = tmp_path / "w.pth"
    w.write_bytes(b"a")
    before = Detectron2Detector(weights=str(w)).fingerprint()
    w.write_bytes(b"b")
    assert Detectron2Detector(weights=str(w)).fingerprint() != before
