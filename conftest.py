"""Test isolation: no installed entry-point plugin loads unless a test asks for it."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
os.environ["BENCHBENCH_PLUGINS"] = ""
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(ROOT / "tests"))  # tests/benchbench_toys.py is importable, also by spawned workers
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))

FLYD_S_ZIP = ROOT.parent / "shared" / "data" / "flyd-s" / "FLYD-S-trainval.zip"


@pytest.fixture(autouse=True)
def _fresh_plugins():
    from benchbench.plugins import reset_plugins

    reset_plugins()
    yield
    reset_plugins()


@pytest.fixture
def flyd_s_zip() -> Path:
    if not FLYD_S_ZIP.exists():
        pytest.skip(f"real FLYD-S archive not found at {FLYD_S_ZIP}")
    return FLYD_S_ZIP
