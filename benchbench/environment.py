"""The software a run ran with: what results.json's ``run.environment`` records and what a comparison checks.

A metric is only as reproducible as the environment that produced it: two installs of the same commit
with different numpy, opencv or ultralytics releases train different detectors. Every run therefore
records the versions of the packages that compute its numbers, the plugin distributions, the thread
settings and the lock file it was installed from, so a figure names an environment that can be rebuilt
(``make install`` from ``requirements.lock``). Versions are read from installed metadata, never by
importing the package: recording torch's version must not import torch into the driver.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from benchbench.hashing import file_sha256

# The distributions whose releases change a number: the frameworks the detectors and generators
# train with, and the array/image stack every frame passes through. A missing one records None.
TRACKED = ("torch", "torchvision", "numpy", "scipy", "opencv-python", "opencv-python-headless", "pillow",
           "ultralytics", "transformers", "diffusers", "detectron2", "statsmodels", "scikit-learn")
# Of those, the ones whose difference makes a comparison across two runs suspect.
COMPARED = ("python", "torch", "torchvision", "numpy", "opencv-python", "opencv-python-headless", "pillow",
            "ultralytics", "transformers", "diffusers", "detectron2")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "BENCHBENCH_DEVICE")
# The instruction sets torch's CPU kernels choose between: two machines that differ here may train the
# same seed to different weights (on one machine a tiny YOLO fit was bit-identical across processes and threads)
SIMD_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16")
LOCK_FILE = "requirements.lock"


@functools.lru_cache(maxsize=1)  # results.json is rewritten after every cell: ask git once
def git_commit() -> str | None:
    """The commit of the benchbench checkout (None outside a git checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def lock_info(root: Path | None = None) -> dict[str, Any] | None:
    """The lock file of the checkout benchbench runs from, with its hash and whether the install matches it.

    None where benchbench runs from an installed wheel (no checkout, no lock): the package versions
    above are then the only record.
    """
    root = root or Path(__file__).resolve().parent.parent
    path = root / LOCK_FILE
    if not path.is_file():
        return None
    drift = lock_drift(read_lock(path), installed_distributions())
    return {"file": LOCK_FILE, "sha256": file_sha256(path), "matches": not drift, "drift": drift[:20]}


def read_lock(path: Path) -> dict[str, str]:
    """``name==version`` lines of a pip lock/constraints file, names normalised as metadata spells them."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[normalise(name)] = version.strip()
    return pins


def normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def _editable(dist: metadata.Distribution) -> bool:
    text = dist.read_text("direct_url.json")
    return bool(text) and bool(json.loads(text).get("dir_info", {}).get("editable"))


def installed_distributions() -> dict[str, str]:
    """Every installed distribution but editable ones (benchbench and the plugins of this checkout).

    A name any of whose copies is editable counts as editable: run from a checkout, the ``*.egg-info``
    an editable build leaves there is found on sys.path as a second, plain copy.
    """
    dists = [(normalise(d.metadata["Name"] or ""), d) for d in metadata.distributions()]
    editable = {name for name, d in dists if _editable(d)}
    return dict(sorted((name, d.version) for name, d in dists if name and name not in editable))


def lock_drift(pins: dict[str, str], have: dict[str, str]) -> list[str]:
    """One line per installed distribution the lock does not pin at its installed version."""
    return [f"{n} {v} (lock: {pins.get(n, 'not pinned')})" for n, v in have.items() if pins.get(n) != v]


def environment(plugin_dists: dict[str, str] | None = None) -> dict[str, Any]:
    """The run header's ``environment``: interpreter, platform, package and plugin versions, threads, lock."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu": cpu_info(),
        "packages": {name: dist_version(name) for name in TRACKED},
        "plugin_distributions": dict(sorted((plugin_dists or {}).items())),
        "threads": {var: os.environ.get(var) for var in THREAD_VARS},
        "lock": lock_info(),
    }


@functools.cache
def cpu_info(cpuinfo: str = "/proc/cpuinfo") -> dict[str, Any] | None:
    """The CPU's model name and which of SIMD_FLAGS it has (None where /proc/cpuinfo cannot be read)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return None
    first = text.split("\n\n", 1)[0]  # the first processor's block: they all describe the same model
    fields = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in first.splitlines() if ":" in line)}
    flags = set(fields.get("flags", "").split())
    return {"model": fields.get("model name") or None, "simd": [f for f in SIMD_FLAGS if f in flags]}


def plugin_distributions() -> dict[str, str]:
    """Every distribution that registers ``benchbench`` plugins, with its version (benchbench's own included)."""
    out: dict[str, str] = {"benchbench-ndt": dist_version("benchbench-ndt") or "unknown"}
    for ep in metadata.entry_points(group="benchbench"):
        if ep.dist is not None:
            out[ep.dist.name] = ep.dist.version
    return out


def _compared_versions(env: dict[str, Any]) -> dict[str, Any]:
    packages = env.get("packages") or {}
    return {"python": env.get("python"), **{k: packages.get(k) for k in COMPARED if k != "python"},
            **{f"plugin {k}": v for k, v in (env.get("plugin_distributions") or {}).items()}}


def environment_differences(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[str]:
    """Human lines, one per package whose version differs between two runs' environments.

    A run written before environments were recorded (None) differs by "unknown", so an old baseline is
    flagged rather than silently trusted.
    """
    if a is None and b is None:
        return []
    if a is None or b is None:
        return ["environment not recorded for " + ("the baseline" if a is None else "the candidate") + " run"]
    va, vb = _compared_versions(a), _compared_versions(b)
    return [f"{k}: {va.get(k)} vs {vb.get(k)}" for k in sorted(set(va) | set(vb)) if va.get(k) != vb.get(k)]


def worker_facts() -> dict[str, Any]:
    """Threads a cell actually trained with, read in the worker after the fit (torch only if a plugin loaded it)."""
    torch = sys.modules.get("torch")
    facts: dict[str, Any] = {"threads": {var: os.environ.get(var) for var in THREAD_VARS}}
    if torch is not None:
        facts["torch_threads"] = torch.get_num_threads()
        cpu = getattr(getattr(torch, "backends", None), "cpu", None)
        if cpu is not None and hasattr(cpu, "get_cpu_capability"):
            facts["torch_cpu_capability"] = cpu.get_cpu_capability()  # the kernels torch dispatched to
        facts["cuda"] = bool(torch.cuda.is_available()) if hasattr(torch, "cuda") else False
    return facts
