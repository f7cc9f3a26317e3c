"""Tests of the template plugin: copy them along with the folder and keep them green."""

from __future__ import annotations

import json

import numpy as np
import pytest
from benchbench.api import CellContext, UserError
from benchbench.testing import (
    check_detector,
    forbid_network,
    heavy_imports,
    installed_entry,
    make_context,
    tiny_frames,
)

from benchbench_template.detector import TemplateDetector


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails the test: plugins must work offline."""
    forbid_network(monkeypatch)


def test_conformance(tmp_path, no_network):
    # The one call every plugin should make: protocol, boxes, determinism, empty/blank frames, save/load.
    report = check_detector(TemplateDetector, tmp_path=tmp_path)
    assert report["name"] == "template"
    assert report["params"]["learned"]["n_train"] == 24


def test_learns_from_training_boxes(tmp_path):
    train = tiny_frames(n=40, size=64, seed=3)
    det = TemplateDetector()
    det.fit(train, None, make_context(tmp_path / "a"))
    learned = det.params()["learned"]
    boxes = [b for f in train for b in f.boxes or ()]
    assert learned["box_w"] == pytest.approx(np.median([b.w for b in boxes]))
    assert learned["box_h"] == pytest.approx(np.median([b.h for b in boxes]))
    assert learned["k"] in (1, 2, 3)

    # Training on boxes twice as tall changes what is learned: nothing is hard-coded.
    taller = type(train)([f.with_boxes([type(b)(b.x, b.y, b.w, 2 * b.h) for b in f.boxes]) for f in train])
    other = TemplateDetector()
    other.fit(taller, None, make_context(tmp_path / "b"))
    assert other.params()["learned"]["box_h"] == pytest.approx(2 * learned["box_h"])
    assert other.params()["learned"]["window"] != learned["window"]


def test_separates_cracked_from_sane_frames(tmp_path):
    # A genuine detector: on held-out frames its best score ranks cracked frames above sane ones.
    det = TemplateDetector()
    ctx = make_context(tmp_path)
    det.fit(tiny_frames(n=120, size=96, seed=0), None, ctx)
    test = tiny_frames(n=60, size=96, seed=1)
    best = [max((b.score for b in boxes), default=0.0) for boxes in det.predict(test, ctx)]
    pos = [s for s, f in zip(best, test, strict=True) if f.label == "crack"]
    neg = [s for s, f in zip(best, test, strict=True) if f.label == "sane"]
    auroc = np.mean([p > n for p in pos for n in neg])
    assert auroc > 0.7, auroc


def test_map_above_zero_on_held_out_frames(tmp_path):
    coco = pytest.importorskip("benchbench.metrics.coco")
    export = pytest.importorskip("benchbench.data.export")
    det = TemplateDetector()
    ctx = make_context(tmp_path)
    det.fit(tiny_frames(n=120, size=96, seed=0), None, ctx)
    test = tiny_frames(n=60, size=96, seed=1)
    gt = export.to_coco_dict(test)
    preds = det.predict(test, ctx)
    dt = export.predictions_to_coco(test, preds) if hasattr(export, "predictions_to_coco") else [
        {"image_id": img["id"], "category_id": gt["categories"][0]["id"], "bbox": [b.x, b.y, b.w, b.h],
         "score": b.score}
        for img, boxes in zip(gt["images"], preds, strict=True) for b in boxes]
    stats = coco.evaluate(gt, dt)
    assert stats["AP50"] > 0.0, stats


def test_bad_parameters_are_user_errors():
    with pytest.raises(UserError, match="scales"):
        TemplateDetector(scales=[0])
    with pytest.raises(UserError, match="max_boxes"):
        TemplateDetector(max_boxes=0)


def test_predict_without_a_trained_model_is_a_user_error(tmp_path):
    ctx = CellContext(cell_id="t", seed=0, work_dir=tmp_path, cache_dir=tmp_path / "cache")
    with pytest.raises(UserError, match="no trained model"):
        TemplateDetector().predict(tiny_frames(n=2), ctx)


def test_entry_point_registers_the_detector():
    # Installed with `pip install -e plugins/template-detector`, bench finds it through the entry point
    # (installed_entry also fails the test if the plugin loads with errors).
    entry = installed_entry("benchbench-template-detector", "template")
    if entry is None:
        pytest.skip("benchbench-template-detector is not installed (pip install -e plugins/template-detector)")
    det = entry.create(scales=[1, 2], max_boxes=2)  # a matrix row's params go straight to the factory
    assert isinstance(det, TemplateDetector) and det.params()["scales"] == [1, 2]


def test_import_stays_light():
    # `bench` imports every plugin module at start: it must not pull in torch.
    assert heavy_imports("import benchbench_template") == []


def test_params_are_json(tmp_path):
    det = TemplateDetector(scales=(2,))
    json.dumps(det.params())
    det.fit(tiny_frames(n=12), None, make_context(tmp_path))
    json.dumps(det.params())
