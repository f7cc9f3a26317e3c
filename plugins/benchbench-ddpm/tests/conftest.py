"""Fixtures: offline hub, blocked sockets, tiny DDPM weights (`bench generators init-tiny ddpm`),
a tiny Classes-layout folder of simulated frames."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from benchbench.pytest_plugin import bench_ctx, generator_fixtures, no_network, one_thread_torch  # noqa: F401
from benchbench.testing import tiny_frames

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


# the plugin's commands, and tiny random DDPMs (16 px, grey) for crack and sane written by its init-tiny
cli, tiny_ddpm = generator_fixtures("benchbench_ddpm", "ddpm", "--size", "16")


@pytest.fixture(scope="session")
def classes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Classes-layout folder (crack/, sane/) of 10 simulated 32 px flying-spot frames, with the cracked
    frames' masks in masks/ (as `bench data export` writes them)."""
    from PIL import Image

    from benchbench.api import frame_mask
    from benchbench.diffusion import MASKS_DIR

    root = tmp_path_factory.mktemp("classes")
    (root / MASKS_DIR).mkdir()
    for f in tiny_frames(10, size=32, positive_fraction=0.5):
        (root / f.label).mkdir(exist_ok=True)
        Image.fromarray(f.load()).save(root / f.label / f"{f.stem}.png")
        if f.label == "crack":
            Image.fromarray(frame_mask(f).astype(np.uint8) * 255).save(root / MASKS_DIR / f"{f.stem}.png")
    return root


@pytest.fixture(autouse=True)
def _torch_on_one_thread(one_thread_torch):  # noqa: F811
    # on shared CI cores more threads spin-wait (steps measured 6x slower)
    yield
