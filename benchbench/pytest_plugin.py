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

A generator plugin's conftest makes two more from :func:`generator_fixtures`: ``cli`` (the plugin's
commands in a bare click group) and ``tiny_<name>`` (random weights written by its init-tiny command).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# benchbench.testing is imported inside the fixtures: pytest loads this plugin (pytest11) in every session of
# a project with benchbench installed, so importing it must cost nothing.


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
    pytest.importorskip("torch")
    from benchbench.testing import torch_threads

    with torch_threads(1) as torch:
        yield torch


def generator_fixtures(plugin: str, name: str, *init_tiny_args: str) -> tuple[Any, Any]:
    """Session fixtures ``cli`` and ``tiny_<name>`` for the tests of the generator plugin whose hook
    module is ``plugin``; bind both at the top of its conftest::

        cli, tiny_sd = generator_fixtures("benchbench_sd", "sd", "--size", "64")

    ``cli`` is a bare click group holding the plugin's commands (``benchbench.testing.plugin_cli``);
    ``tiny_<name>`` the folder ``generators init-tiny NAME OUT *init_tiny_args`` writes through it.
    """

    @pytest.fixture(scope="session", name="cli")
    def cli() -> Any:
        import importlib

        from benchbench.testing import plugin_cli

        return plugin_cli(importlib.import_module(plugin))

    @pytest.fixture(scope="session", name=f"tiny_{name}")
    def tiny(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
        from benchbench.testing import init_tiny

        return init_tiny(cli, name, tmp_path_factory.mktemp("weights") / f"tiny-{name}", *init_tiny_args)

    return cli, tiny
