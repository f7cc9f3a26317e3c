"""Shared fixtures: offline environment, blocked sockets, a tiny model and tiny data."""

from __future__ import annotations

import os

import pytest
from benchbench.pytest_plugin import no_network  # noqa: F401  (a fixture: binding it here registers it)

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def tiny_params() -> dict:
    """A quarter-width YOLOv8n (width 0.0625 instead of 0.25) on 64-px frames: about a second per epoch."""
    return {"model": "yolov8n.yaml", "width": 0.0625, "imgsz": 64, "batch": 8,
            "train_args": {"mosaic": 0.0, "warmup_epochs": 0.0}}
