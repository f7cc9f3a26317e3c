"""What holds without detectron2: cheap parameters, a light hook module, and the missing-install error."""

from __future__ import annotations

import sys

import pytest
from benchbench.api import UserError
from benchbench.testing import heavy_imports, installed_entry, registrations

import benchbench_detectron2
from benchbench_detectron2.detector import Detectron2Detector


def test_without_detectron2_the_detector_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "detectron2", None)  # what find_spec sees when it is not installed
    with pytest.raises(UserError, match="detectron2 is not installed") as err:
        Detectron2Detector(model="mask_rcnn")
    assert err.value.field == "plugin" and "shared/wheels" in err.value.fix and "source" in err.value.fix
    assert "\n" not in str(err.value)


def test_unknown_parameters_are_named_before_the_install_check(monkeypatch):
    monkeypatch.setitem(sys.modules, "detectron2", None)
    with pytest.raises(UserError, match="unknown parameter") as err:
        Detectron2Detector(epoch=3)
    assert err.value.field == "epoch" and "epochs" in err.value.fix


def test_import_pulls_neither_torch_nor_detectron2():
    code = "import benchbench_detectron2, benchbench_detectron2.detector, benchbench_detectron2.params"
    assert heavy_imports(code, ("torch", "detectron2")) == []


def test_hook_registers_an_import_string():
    (name, factory, meta), = registrations(benchbench_detectron2.benchbench_register_detectors)
    assert (name, factory) == ("detectron2", "benchbench_detectron2.detector:Detectron2Detector")
    assert "Mask R-CNN" in meta["description"]


def test_bench_finds_the_plugin_through_its_entry_point():
    entry = installed_entry("benchbench-detectron2", "detectron2")  # fails on load or register errors
    if entry is None:
        pytest.skip("benchbench-detectron2 is not installed (pip install -e plugins/benchbench-detectron2)")
    assert entry.target == "benchbench_detectron2.detector:Detectron2Detector"
