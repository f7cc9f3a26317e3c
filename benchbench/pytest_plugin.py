"""benchbench's pytest plugin: fixtures for plugin authors' tests.

Installed with benchbench (entry point ``pytest11``), so a plugin's tests can ask for them by
name without a conftest; ``pytest -p benchbench.pytest_plugin`` loads it explicitly and
``-p no:benchbench.pytest_plugin`` turns it off. Nothing heavy is imported until a fixture is
used: pytest loads this module in every test run of the environment.

===================  =====================================================================
``bench_train``      24 tiny simulated frames (64 px, 10 cracked with exact boxes), session-wide
``bench_test``       8 other tiny frames (3 cracked): held out from ``bench_train``
``bench_ctx``        a :class:`~benchbench.api.CellContext` rooted in the test's ``tmp_path``
                     (seed 0, ``device="cpu"``): what ``fit``/``predict`` receive in a run
``no_network``       every socket connection and DNS lookup fails the test with a clear message
``one_thread_torch`` torch on one CPU thread for the test (skipped without torch): stable
                     timings and results when tests run beside other work; yields ``torch``
===================  =====================================================================
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def bench_train() -> Any:
    from benchbench.testing import tiny_frames

    return tiny_frames(n=24, size=64, seed=0)


@pytest.fixture(scope="session")
def bench_test() -> Any:
    from benchbench.testing import tiny_frames

    return tiny_frames(n=8, size=64, seed=1)


@pytest.fixture
def bench_ctx(tmp_path: Any) -> Any:
    from dataclasses import replace

    from benchbench.testing import make_context

    return replace(make_context(tmp_path / "cell"), device="cpu")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchbench.testing import forbid_network

    forbid_network(monkeypatch)


@pytest.fixture
def one_thread_torch() -> Iterator[Any]:
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield torch
    finally:
        torch.set_num_threads(before)
