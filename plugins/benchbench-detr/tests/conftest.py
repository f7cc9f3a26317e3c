"""Shared fixtures: offline hub, blocked sockets, small simulated frame sets, COCO scoring."""

from __future__ import annotations

import os

import pytest
from benchbench.api import CellContext, FrameSet, coco_stats
from benchbench.pytest_plugin import no_network, one_thread_torch  # noqa: F401  (bound: registered)
from benchbench.testing import tiny_frames

# Nothing may reach a model hub: transformers and huggingface_hub must stay offline.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def ctx_factory(tmp_path):
    def make(name: str = "cell", seed: int = 0) -> CellContext:
        work = tmp_path / name
        work.mkdir(parents=True, exist_ok=True)
        return CellContext(cell_id=name, seed=seed, work_dir=work, cache_dir=tmp_path / "cache", quiet=True)

    return make


def _sim(n: int, seed: int, size: int = 64) -> FrameSet:
    return tiny_frames(n, size=size, seed=seed)


# Helpers are fixtures, not imports: every plugin has a conftest.py, and "from conftest
# import ..." would pick whichever one pytest loaded first.
@pytest.fixture(scope="session")
def sim():
    return _sim


@pytest.fixture(scope="session", name="coco_stats")
def _coco_stats():
    """COCO stats of a detector's boxes: benchbench.api.coco_stats (pycocotools-equivalent)."""
    return coco_stats


@pytest.fixture(autouse=True)
def _torch_on_one_thread(one_thread_torch):  # noqa: F811
    # on shared CI cores more threads spin-wait (steps measured 6x slower)
    yield
