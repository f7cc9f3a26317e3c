"""Fixtures of the core tests that more than one test module needs."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from benchbench_toys_lb import make_runs


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """The "base", "noise" and "worse" runs of benchbench_toys_lb, made once for the session."""
    root = tmp_path_factory.getbasetemp() / "lb-runs"
    root.mkdir(exist_ok=True)
    return make_runs(root)


CHROMIUM_INSTALL_TIMEOUT_S = 900


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed with apt-get when missing (root only); skipped if impossible."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.skip("chromium is not installed and cannot be installed here (needs root and apt-get): "
                    "run `apt-get install -y chromium` to enable this test")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["apt-get", *args], capture_output=True, text=True, env=env,
                              timeout=CHROMIUM_INSTALL_TIMEOUT_S)

    try:
        res = apt("install", "-y", "chromium")
        if res.returncode != 0:  # stale package lists: refresh once and retry
            apt("update")
            res = apt("install", "-y", "chromium")
    except subprocess.TimeoutExpired:
        pytest.skip(f"installing chromium took over {CHROMIUM_INSTALL_TIMEOUT_S} s")
    found = shutil.which("chromium")
    if not found:
        pytest.skip(f"could not install chromium: {(res.stderr or res.stdout).strip().splitlines()[-1:]}")
    return found
