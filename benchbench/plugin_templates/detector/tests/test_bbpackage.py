"""Tests of bb-dist. Run them after `pip install -e .`: `pytest tests -q`.

The fixtures bench_train, bench_test, bench_ctx, no_network and one_thread_torch come from
benchbench's pytest plugin (installed with benchbench-ndt): no conftest needed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from benchbench.api import UserError
from benchbench.testing import check_detector, heavy_imports, installed_entry, make_context, tiny_frames

from bbpackage.detector import BbClassDetector


def test_conformance(tmp_path, no_network):
    # The one call every plugin should make: protocol, boxes that overlap the cracks, determinism,
    # empty/blank frames, save/load in this process and in a fresh one.
    report = check_detector(BbClassDetector, tmp_path=tmp_path)
    assert report["name"] == "bbname"
    assert report["params"]["learned"]["n_train"] == 24  # the 2 frames with unknown boxes are skipped


def test_learns_from_training_boxes(tmp_path):
    train = tiny_frames(n=40, size=64, seed=3)
    det = BbClassDetector()
    ctx = make_context(tmp_path / "a")
    det.fit(train, None, ctx)
    assert ctx.info["budget"] == {"epochs": 1, "steps": 0, "images_seen": 40}  # one closed-form pass
    learned = det.params()["learned"]
    boxes = [b for f in train for b in f.boxes or ()]
    assert learned["box_w"] == pytest.approx(np.median([b.w for b in boxes]))
    assert learned["box_h"] == pytest.approx(np.median([b.h for b in boxes]))
    assert learned["k"] in (1, 2, 3)

    # Training on boxes twice as tall changes what is learned: nothing is hard-coded.
    taller = type(train)([f.with_boxes([type(b)(b.x, b.y, b.w, 2 * b.h) for b in f.boxes]) for f in train])
    other = BbClassDetector()
    other.fit(taller, None, make_context(tmp_path / "b"))
    assert other.params()["learned"]["box_h"] == pytest.approx(2 * learned["box_h"])
    assert other.params()["learned"]["window"] != learned["window"]


def test_separates_cracked_from_sane_frames(tmp_path):
    # A genuine detector: on held-out frames its best score ranks cracked frames above sane ones.
    det = BbClassDetector()
    ctx = make_context(tmp_path)
    det.fit(tiny_frames(n=120, size=96, seed=0), None, ctx)
    test = tiny_frames(n=60, size=96, seed=1)
    best = [max((b.score for b in boxes), default=0.0) for boxes in det.predict(test, ctx)]
    pos = [s for s, f in zip(best, test, strict=True) if f.label == "crack"]
    neg = [s for s, f in zip(best, test, strict=True) if f.label == "sane"]
    auroc = np.mean([p > n for p in pos for n in neg])
    assert auroc > 0.7, auroc


def test_bad_parameters_are_user_errors():
    with pytest.raises(UserError, match="scales"):
        BbClassDetector(scales=[0])
    with pytest.raises(UserError, match="max_boxes"):
        BbClassDetector(max_boxes=0)


def test_predict_without_a_trained_model_is_a_user_error(bench_test, bench_ctx):
    with pytest.raises(UserError, match="no trained model"):
        BbClassDetector().predict(bench_test, bench_ctx)


def test_entry_point_registers_the_detector():
    # Installed with `pip install -e .`, bench finds it through the entry point
    # (installed_entry also fails the test if the plugin loads with errors).
    entry = installed_entry("bb-dist", "bbname")
    assert entry is not None, "bb-dist is not installed: run `pip install -e .` first"
    det = entry.create(scales=[1, 2], max_boxes=2)  # a matrix row's params go straight to the factory
    assert isinstance(det, BbClassDetector) and det.params()["scales"] == [1, 2]


def test_import_stays_light():
    # `bench` imports every plugin module at start: it must not pull in torch.
    assert heavy_imports("import bbpackage") == []


def test_params_are_json(bench_train, bench_ctx):
    det = BbClassDetector(scales=(2,))
    json.dumps(det.params())
    det.fit(bench_train, None, bench_ctx)
    json.dumps(det.params())
