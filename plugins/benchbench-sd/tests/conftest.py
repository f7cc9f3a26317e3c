"""Fixtures: offline hub, blocked sockets, tiny SD weights made by `bench generators init-tiny sd`."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from benchbench.pytest_plugin import bench_ctx, generator_fixtures, no_network, one_thread_torch  # noqa: F401

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

_ROOT = Path(__file__).resolve().parents[3]  # the project root
_FLYD_S = Path("shared") / "data" / "flyd-s" / "FLYD-S-trainval.zip"
FLYD_S_ZIP = next((p for p in (Path(os.environ.get("BENCHBENCH_FLYD_S_ZIP", "/nonexistent")), _ROOT / _FLYD_S,
                              _ROOT.parent / _FLYD_S) if p.is_file()), _ROOT.parent / _FLYD_S)


# the plugin's commands, and a tiny random SD pipeline (64 px native) written by its init-tiny
cli, tiny_sd = generator_fixtures("benchbench_sd", "sd", "--size", "64")


@pytest.fixture(scope="session")
def flyd_cracked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of 4 real FLYD-S cracked frames (non-empty masks); skips when the archive is absent."""
    if not FLYD_S_ZIP.is_file():
        pytest.skip(f"FLYD-S archive not found at {FLYD_S_ZIP}")
    out = tmp_path_factory.mktemp("flyd-cracked")
    with zipfile.ZipFile(FLYD_S_ZIP) as zf:
        names = sorted(n for n in zf.namelist() if "/images/" in n and n.lower().endswith(".jpg")
                       and "negative_scans" not in n)[:4]
        for name in names:
            (out / Path(name).name).write_bytes(zf.read(name))
    assert len(names) == 4
    return out


@pytest.fixture(autouse=True)
def _torch_on_one_thread(one_thread_torch):  # noqa: F811
    # on shared CI cores more threads spin-wait (steps measured 6x slower)
    yield
