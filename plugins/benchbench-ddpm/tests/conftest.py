"""Fixtures: offline hub, blocked sockets, tiny DDPM weights (`bench generators init-tiny ddpm`),
a tiny Classes-layout folder of simulated frames."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest

from benchbench.pytest_plugin import bench_ctx, no_network, one_thread_torch  # noqa: F401  (bound: registered)
from benchbench.testing import init_tiny, plugin_cli, tiny_frames

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session")
def cli() -> click.Group:
    """A bare click group filled through the plugin's benchbench_register_commands hook."""
    import benchbench_ddpm

    return plugin_cli(benchbench_ddpm)


@pytest.fixture(scope="session")
def tiny_ddpm(cli: click.Group, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny random DDPMs (16 px, grey) for crack and sane, written by the real init-tiny command."""
    return init_tiny(cli, "ddpm", tmp_path_factory.mktemp("weights") / "tiny-ddpm", "--size", "16")


@pytest.fixture(scope="session")
def classes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Classes-layout folder (crack/, sane/) of 10 simulated 32 px flying-spot frames."""
    from PIL import Image

    root = tmp_path_factory.mktemp("classes")
    for f in tiny_frames(10, size=32, positive_fraction=0.5):
        (root / f.label).mkdir(exist_ok=True)
        Image.fromarray(f.load()).save(root / f.label / f"{f.stem}.png")
    return root


@pytest.fixture(autouse=True)
def _torch_on_one_thread(one_thread_torch):  # noqa: F811
    # on shared CI cores more threads spin-wait (steps measured 6x slower)
    yield
