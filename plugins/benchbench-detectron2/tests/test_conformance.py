"""The benchbench conformance kit on tiny detectron2 models, with every socket blocked."""

from __future__ import annotations

import pytest
from benchbench.testing import check_detector, tiny_frames

from benchbench_detectron2.detector import Detectron2Detector

# R-18 FPN with the small heads at 64 px: about half a CPU-second per step of 8 frames.
TINY = {"size": "small", "imgsz": 64, "batch": 8, "epochs": 2}
# Six steps from a random init do not localise cracks yet, so check_detector's meaning check (top boxes
# overlap the truth) is off here; the slow FLYD-S test in tests/test_e2e_detectron2.py checks that a
# longer fit learns, and test_training.py that boxes map back to each frame.
SHORT_FIT = {"meaning": False}


def test_faster_rcnn_conforms(tmp_path, no_network, monkeypatch):
    # the fresh process must sum on one thread too: reductions split over threads differ in the last bits
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    summary = check_detector(lambda: Detectron2Detector(**TINY), tmp_path=tmp_path, **SHORT_FIT)
    assert summary["name"] == "detectron2" and summary["params"]["model"] == "faster_rcnn"
    assert all(n > 0 for n in summary["boxes"])  # threshold 0 keeps the ranked list mAP needs


# Save/load is shared by the models: the faster_rcnn test covers it in a fresh process (~10 s of imports).
@pytest.mark.parametrize("model", ["retinanet", "mask_rcnn"])
def test_other_models_conform(model, tmp_path, no_network):
    summary = check_detector(lambda: Detectron2Detector(model=model, **{**TINY, "epochs": 1}), tmp_path=tmp_path,
                             train=tiny_frames(n=16, size=64, seed=0), test=tiny_frames(n=4, size=64, seed=1),
                             fresh_process=False, **SHORT_FIT)
    assert summary["params"]["model"] == model
