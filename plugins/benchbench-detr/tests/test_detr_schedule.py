"""Optimiser groups and learning-rate schedule."""

from __future__ import annotations

import pytest

from benchbench_detr.detector import DetrDetector


def test_lr_factor_warmup_cosine_and_step():
    from benchbench_detr.training import lr_factor

    assert lr_factor(0, 100, 10, "cosine") == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(10, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(99, 100, 10, "cosine") == pytest.approx(0.01, abs=1e-3)
    assert lr_factor(50, 100, 10, "step") == 1.0 and lr_factor(80, 100, 10, "step") == 0.1
    assert lr_factor(0, 10, 0, "cosine") == pytest.approx(1.0)


def test_backbone_has_its_own_learning_rate():
    from benchbench_detr.training import param_groups
    from benchbench_detr.variants import build_model

    det = DetrDetector(lr=1e-3, lr_backbone=1e-5, weight_decay=0.05)
    model = build_model(det._p)
    groups = param_groups(model, det._p)
    backbone = {id(t) for n, t in model.named_parameters() if ".backbone." in f".{n}"}
    for g in groups:
        in_backbone = {id(t) in backbone for t in g["params"]}
        assert len(in_backbone) == 1
        assert g["lr"] == (1e-5 if in_backbone.pop() else 1e-3)
        assert g["weight_decay"] in (0.0, 0.05)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


@pytest.mark.parametrize("variant", ["rt-detr", "detr"])
def test_size_presets_grow(variant):
    from benchbench_detr.variants import build_model

    counts = [sum(t.numel() for t in build_model(DetrDetector(variant=variant, size=s)._p).parameters())
              for s in ("tiny", "small", "base")]
    assert counts == sorted(counts) and counts[0] < 2e6
