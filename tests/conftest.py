"""Fixtures of the core tests that more than one test module needs."""

from __future__ import annotations

import pytest
from benchbench_toys_lb import make_runs


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """The "base", "noise" and "worse" runs of benchbench_toys_lb, made once for the session."""
    root = tmp_path_factory.getbasetemp() / "lb-runs"
    root.mkdir(exist_ok=True)
    return make_runs(root)
