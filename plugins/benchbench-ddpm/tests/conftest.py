"""Fixtures: offline hub, blocked sockets, tiny DDPM weights (`bench generators init-tiny ddpm`),
a tiny Classes-layout folder of simulated frames."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest

# Fixtures (ctx, no_network; one_torch_thread is autouse): binding them here registers them.
from benchbench.testing import ctx, init_tiny, no_network, one_torch_thread, plugin_cli, tiny_frames  # noqa: F401

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
