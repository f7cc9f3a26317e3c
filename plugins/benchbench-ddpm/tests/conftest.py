"""Fixtures: offline hub, blocked sockets, tiny DDPM weights (`bench generators init-tiny ddpm`),
a tiny Classes-layout folder of simulated frames."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest

from benchbench.testing import forbid_network, init_tiny, plugin_cli

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    # The CI box has 2 shared cores: one torch thread avoids OpenMP oversubscription.
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection or DNS lookup fails the test: proves loading, sampling and training stay offline."""
    forbid_network(monkeypatch)


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

    from benchbench.data.simulate import simulate_frames

    root = tmp_path_factory.mktemp("classes")
    for f in simulate_frames(10, 0, size=32, positive_fraction=0.5):
        (root / f.label).mkdir(exist_ok=True)
        Image.fromarray(f.load()).save(root / f.label / f"{f.stem}.png")
    return root


@pytest.fixture
def ctx(tmp_path: Path):
    from benchbench.api import CellContext

    return CellContext(cell_id="t", seed=0, work_dir=tmp_path, cache_dir=tmp_path / "cache", quiet=True)
