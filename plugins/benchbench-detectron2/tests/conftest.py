"""Shared fixtures: blocked sockets, torch on one thread, and a skip of every test that needs
detectron2 where it is not installed (it has no distribution on the package index)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from benchbench.pytest_plugin import no_network, one_thread_torch  # noqa: F401  (bound: registered)

from benchbench_detectron2.params import INSTALL_FIX

HAVE_DETECTRON2 = importlib.util.find_spec("detectron2") is not None
# The few parameter checks that hold without detectron2 (the missing-install error itself) are in this module.
WITHOUT_DETECTRON2 = "test_missing_install.py"
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    if HAVE_DETECTRON2:
        return
    skip = pytest.mark.skip(reason=f"detectron2 is not installed: {INSTALL_FIX}")
    for item in items:  # the hook sees the whole session's items: only this folder's are ours
        if item.path.is_relative_to(HERE) and item.path.name != WITHOUT_DETECTRON2:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _torch_on_one_thread(request):
    # on shared CI cores more threads spin-wait; tests that never touch torch do not import it
    if request.node.path.name == WITHOUT_DETECTRON2:
        yield
        return
    request.getfixturevalue("one_thread_torch")
    yield
