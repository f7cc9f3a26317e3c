"""Parameter validation: cheap, one-line user errors naming the field and the fix."""

from __future__ import annotations

import json

import pytest
from benchbench.api import UserError

from benchbench_detr.detector import DetrDetector
from benchbench_detr.params import VARIANTS


def test_defaults_are_rt_detr_and_json_able():
    p = DetrDetector().params()
    assert p["variant"] == "rt-detr" and p["size"] == "tiny"
    assert p["num_queries"] == 30 and p["lr_backbone"] == p["lr"]
    json.dumps(p)


def test_overrides_are_reported():
    p = DetrDetector(variant="DETR", size="small", num_queries=7, lr=1e-3, lr_backbone=1e-4, epochs=3).params()
    assert (p["variant"], p["size"], p["num_queries"], p["lr"], p["lr_backbone"], p["epochs"]) == \
        ("detr", "small", 7, 1e-3, 1e-4, 3)


@pytest.mark.parametrize("params, field", [
    ({"variant": "yolo"}, "variant"),
    ({"size": "huge"}, "size"),
    ({"epochs": -1}, "epochs"),
    ({"epochs": 2.5}, "epochs"),
    ({"lr": 0}, "lr"),
    ({"batch": "8"}, "batch"),
    ({"imgsz": 16}, "imgsz"),
    ({"hflip": 2}, "hflip"),
    ({"schedule": "linear"}, "schedule"),
    ({"config": [1]}, "config"),
    ({"threads": 0}, "threads"),
    ({"device": 1}, "device"),
    ({"epoch": 3}, "epoch"),
])
def test_bad_values_are_user_errors(params, field):
    with pytest.raises(UserError) as err:
        DetrDetector(**params)
    assert err.value.field == field and err.value.fix
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("variant", ["dino", "grounding-dino"])
def test_unbuildable_variants_explain_why(variant):
    with pytest.raises(UserError, match="not supported") as err:
        DetrDetector(variant=variant)
    assert err.value.field == "variant" and "rt-detr" in err.value.fix


def test_missing_weights_dir(tmp_path):
    with pytest.raises(UserError, match="not found") as err:
        DetrDetector(weights=str(tmp_path / "nope"))
    assert err.value.field == "weights" and "never downloads" in err.value.fix


def test_weights_dir_without_config(tmp_path):
    with pytest.raises(UserError, match="no config.json") as err:
        DetrDetector(weights=str(tmp_path))
    assert "save_pretrained" in err.value.fix


def test_weights_of_another_variant(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": VARIANTS["detr"]}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(UserError, match="'detr' model, not rt-detr") as err:
        DetrDetector(weights=str(tmp_path))
    assert err.value.fix == "set variant: detr"
    assert DetrDetector(variant="detr", weights=str(tmp_path)).params()["lr_backbone"] == pytest.approx(5e-5)


def test_unknown_config_override_fails_at_build():
    from benchbench_detr.variants import build_config

    det = DetrDetector(config={"decoder_layerz": 2})
    with pytest.raises(UserError, match="decoder_layerz") as err:
        build_config(det._p)
    assert err.value.field == "config"
    assert build_config(DetrDetector(config={"decoder_layers": 1})._p).decoder_layers == 1


def test_fingerprint_follows_params_and_weight_files(tmp_path):
    assert DetrDetector().fingerprint() == DetrDetector().fingerprint() != DetrDetector(epochs=3).fingerprint()
    (tmp_path / "config.json").write_text(json.dumps({"model_type": VARIANTS["rt-detr"]}))
    (tmp_path / "model.safetensors").write_bytes(b"a")
    before = DetrDetector(weights=str(tmp_path)).fingerprint()
    (tmp_path / "model.safetensors").write_bytes(b"b")
    assert DetrDetector(weights=str(tmp_path)).fingerprint() != before
