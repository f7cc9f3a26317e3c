"""Shared fixtures: offline hub, blocked sockets, small simulated frame sets, COCO scoring."""

from __future__ import annotations

import os

import pytest
from benchbench.api import Box, CellContext, FrameSet
from benchbench.testing import forbid_network

# Nothing may reach a model hub: transformers and huggingface_hub must stay offline.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection or DNS lookup fails the test: proves fit/predict never touch the network."""
    forbid_network(monkeypatch)


@pytest.fixture
def ctx_factory(tmp_path):
    def make(name: str = "cell", seed: int = 0) -> CellContext:
        work = tmp_path / name
        work.mkdir(parents=True, exist_ok=True)
        return CellContext(cell_id=name, seed=seed, work_dir=work, cache_dir=tmp_path / "cache", quiet=True)

    return make


def _sim(n: int, seed: int, size: int = 64) -> FrameSet:
    from benchbench.data.simulate import simulate_frames

    return simulate_frames(n, seed, size=size)


def _coco_stats(frames: FrameSet, preds: list[list[Box]], iou_thresholds: list[float] | None = None
                ) -> dict[str, float]:
    """COCO stats through the project's own exporter and evaluator (pycocotools-equivalent)."""
    from benchbench.data.export import to_coco_dict
    from benchbench.evaluation import predictions_to_coco
    from benchbench.metrics.coco import evaluate

    return evaluate(to_coco_dict(frames), predictions_to_coco(preds), iou_thresholds)


# Helpers are fixtures, not imports: every plugin has a conftest.py, and "from conftest
# import ..." would pick whichever one pytest loaded first.
@pytest.fixture(scope="session")
def sim():
    return _sim


@pytest.fixture(scope="session")
def coco_stats():
    return _coco_stats


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests run on shared CI CPUs, where one thread beats spin-waiting OpenMP threads by far."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
