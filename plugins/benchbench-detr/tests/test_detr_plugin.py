"""Registration and import cost: listing plugins must never import torch."""

from __future__ import annotations

from importlib import metadata

from benchbench.testing import heavy_imports

import benchbench_detr


def test_import_does_not_pull_torch():
    code = ("import benchbench_detr, benchbench_detr.params; import benchbench_detr.detector as d; "
            "d.DetrDetector(variant='detr', size='small')")
    assert heavy_imports(code, ("torch", "transformers", "torchvision")) == []


def test_entry_point_points_at_the_package():
    eps = [ep for ep in metadata.entry_points(group="benchbench") if ep.name == "detr"]
    assert eps and eps[0].value == "benchbench_detr"
    assert eps[0].load() is benchbench_detr


def test_hook_registers_an_import_string():
    seen = []
    benchbench_detr.benchbench_register_detectors(register=lambda name, factory, **meta: seen.append((name, factory)))
    assert seen == [("detr", "benchbench_detr.detector:DetrDetector")]
    module, _, attr = seen[0][1].partition(":")
    from benchbench_detr import detector

    assert module == detector.__name__ and callable(getattr(detector, attr))
