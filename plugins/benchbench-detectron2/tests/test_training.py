"""Tiny real fits: masks as Mask R-CNN's supervision, the equal-steps budget, local weights, frame sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from benchbench.api import FrameSet, UserError, frame_mask
from benchbench.testing import make_context, tiny_frames, torch_threads

from benchbench_detectron2.detector import MODEL_DIR, Detectron2Detector

TINY = {"size": "small", "imgsz": 64, "batch": 8, "epochs": 1}


@pytest.fixture(scope="module")
def data():
    return tiny_frames(24, size=64, seed=0), tiny_frames(8, size=64, seed=1)


@pytest.fixture(scope="module")
def mask_rcnn(data, tmp_path_factory):
    """A Mask R-CNN fitted one epoch on 24 simulated frames (their crack masks drawn from the scene)."""
    ctx = make_context(tmp_path_factory.mktemp("mask"))
    det = Detectron2Detector(model="mask_rcnn", **TINY)
    with torch_threads(1):
        det.fit(data[0], None, ctx)
        preds = det.predict(data[1], ctx)
    return det, ctx, preds


def test_instance_masks_are_the_crack_pixels_inside_each_box(data):
    from benchbench_detectron2.training import instance_masks

    frame = next(f for f in data[0] if f.boxes)
    masks, from_mask = instance_masks(frame, 64)
    assert from_mask and masks.shape == (len(frame.boxes), 64, 64)
    box = frame.boxes[0]
    assert 0 < masks[0].sum() < 0.8 * box.w * box.h  # a thin crack, not the filled box
    assert np.array_equal(masks[0].numpy(), frame_mask(frame) & masks[0].numpy())  # inside the crack
    blind = frame.__class__(**{**frame.__dict__, "meta": {}})  # a teacher-labelled frame: boxes, no mask
    filled, from_mask = instance_masks(blind, 64)
    assert not from_mask and filled[0].sum() >= box.w * box.h - 2 * (box.w + box.h)


def test_mask_rcnn_trains_on_the_masks_and_saves(mask_rcnn, data):
    det, ctx, preds = mask_rcnn
    facts = ctx.info["detectron2"]
    assert facts["mask_frames"] == sum(1 for f in data[0] if f.boxes) and facts["n_train"] == 24
    assert ctx.info["budget"] == {"epochs": 1, "steps": 3, "images_seen": 24}
    saved = ctx.work_dir / MODEL_DIR
    assert {"model.safetensors", "config.yaml", "benchbench_detectron2.json"} <= {p.name for p in saved.iterdir()}
    assert json.loads((saved / "benchbench_detectron2.json").read_text())["params"] == det.params()
    assert "MASK_ON: true" in (saved / "config.yaml").read_text()
    assert len(preds) == 8 and all(preds)


def test_local_weights_load_unchanged_at_zero_epochs(mask_rcnn, data, tmp_path, no_network):
    _, src, preds = mask_rcnn
    ctx = make_context(tmp_path)
    det = Detectron2Detector(model="mask_rcnn", **{**TINY, "epochs": 0},
                             weights=str(src.work_dir / MODEL_DIR / "model.safetensors"))
    det.fit(data[0], None, ctx)
    assert det.predict(data[1], ctx) == preds


def test_equal_steps_budget_scales_the_epochs(data, tmp_path):
    ctx = make_context(tmp_path)
    ctx.budget_frames = 48  # the row's largest-ratio cell trains on twice these 24 frames
    Detectron2Detector(model="retinanet", **TINY).fit(data[0], None, ctx)
    assert ctx.info["budget"] == {"epochs": 2, "steps": 6, "images_seen": 48}


def test_boxes_map_back_to_each_frame_size(mask_rcnn):
    det, ctx, _ = mask_rcnn
    mixed = tiny_frames(3, size=96, seed=3) + tiny_frames(3, size=48, seed=4)
    for frame, boxes in zip(mixed, det.predict(mixed, ctx), strict=True):
        assert boxes and all(b.x >= 0 and b.y >= 0 and b.x + b.w <= frame.width + 1e-3
                             and b.y + b.h <= frame.height + 1e-3 for b in boxes)
        assert [b.score for b in boxes] == sorted((b.score for b in boxes), reverse=True)


def test_unknown_boxes_are_skipped_and_none_known_is_an_error(data, tmp_path):
    unknown = FrameSet([f.with_boxes(None) for f in data[0]])
    with pytest.raises(UserError, match="no training frames with known boxes"):
        Detectron2Detector(**TINY).fit(unknown, None, make_context(tmp_path / "a"))
    with pytest.raises(UserError, match="no trained detectron2 model") as err:
        Detectron2Detector(**TINY).predict(data[1], make_context(tmp_path / "b"))
    assert "run fit first" in err.value.fix
