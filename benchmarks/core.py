"""Shared pieces of the performance suite: figures, timing, profiling, machine facts.

Every figure is a measured value *and* the reference it is compared with, measured in the
same run on the same machine, so that the ratio stays meaningful on a loaded or slow box
where absolute seconds are not.
"""

from __future__ import annotations

import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_VERSION = 1


@dataclass
class Figure:
    """One number of the suite, its same-run reference and its target.

    ``met`` is None for informational figures (no target) and for figures whose reference or
    value could not be measured (``skipped`` then says why).
    """

    benchmark: str
    name: str
    value: float | None
    unit: str
    reference: str | None = None
    reference_value: float | None = None
    higher_is_better: bool = False
    target: str | None = None
    met: bool | None = None
    skipped: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.reference_value:
            return None
        return self.value / self.reference_value

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"ratio": self.ratio}


@dataclass
class BenchResult:
    """What one benchmark hands back to the suite (serialised by the worker process)."""

    name: str
    status: str = "ok"  # ok | error
    seconds: float = 0.0
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profiles: dict[str, Any] = field(default_factory=dict)
    before_after: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def add(self, fig: Figure) -> Figure:
        self.figures.append(fig)
        return fig

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "seconds": self.seconds,
                "figures": [f.to_dict() for f in self.figures], "notes": self.notes,
                "profiles": self.profiles, "before_after": self.before_after, "error": self.error}


# --------------------------------------------------------------------------- timing
def summary_stats(samples: Sequence[float]) -> dict[str, Any]:
    """Median (the figure) plus spread, so a reader can judge the noise of a loaded machine."""
    s = sorted(samples)
    return {"median": statistics.median(s), "min": s[0], "max": s[-1], "n": len(s),
            "stdev": statistics.stdev(s) if len(s) > 1 else 0.0, "samples": [round(x, 6) for x in samples]}


def time_call(fn: Callable[[], Any], repeats: int) -> tuple[dict[str, Any], Any]:
    """Run ``fn`` ``repeats`` times; return its wall-time stats (plus median CPU time) and its last result."""
    times, cpu, out = [], [], None
    for _ in range(repeats):
        c, t = time.process_time(), time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return summary_stats(times) | {"cpu_median": statistics.median(cpu)}, out


def time_commands(commands: Mapping[str, tuple[list[str], dict[str, str]]], runs: int,
                  warmup: int = 1, timeout: float = 300.0) -> dict[str, dict[str, Any]]:
    """Median wall time of each command line, run round-robin so load spikes hit all of them alike.

    Uses time.perf_counter around subprocess.run (hyperfine is not assumed). The child's CPU time
    (user + sys, from getrusage) is kept too: on a loaded machine it moves far less than wall time.
    A command that fails is recorded with its exit code and stderr tail instead of a time.
    """
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    failed: dict[str, str] = {}
    for i in range(warmup + runs):
        for name, (argv, env) in commands.items():
            if name in failed:
                continue
            before = _children_cpu()
            t = time.perf_counter()
            try:
                proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      timeout=timeout, cwd=ROOT)
            except (OSError, subprocess.TimeoutExpired) as exc:
                failed[name] = f"{type(exc).__name__}: {exc}"
                continue
            dt = time.perf_counter() - t
            if proc.returncode != 0:
                tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
                failed[name] = f"exit {proc.returncode}: {tail[0][:200]}"
            elif i >= warmup:
                times[name].append(dt)
                cpu[name].append(_children_cpu() - before)
    out: dict[str, dict[str, Any]] = {}
    for name in commands:
        if name in failed:
            out[name] = {"error": failed[name]}
        else:
            out[name] = summary_stats(times[name]) | {"cpu_median": statistics.median(cpu[name])}
    return out


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


# --------------------------------------------------------------------------- profiling
def profile_call(fn: Callable[[], Any], max_lines: int = 120) -> dict[str, Any]:
    """Profile ``fn`` with pyinstrument (statistical, low overhead) and keep the call tree as text."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        return {"tool": None, "note": "pyinstrument not installed: "
                "python -m pip install -c constraints.txt pyinstrument"}
    profiler = Profiler(interval=0.001)
    profiler.start()
    try:
        fn()
    finally:
        profiler.stop()
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    return {"tool": f"pyinstrument {_version('pyinstrument')}", "tree": lines[:max_lines],
            "truncated": len(lines) > max_lines}


def profile_module(module_args: list[str], env: dict[str, str], max_lines: int = 120) -> dict[str, Any]:
    """Profile ``python -m <module_args>`` in a fresh process (start-up included) with pyinstrument."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="benchbench-prof-") as tmp:
        out = Path(tmp) / "profile.txt"
        proc = subprocess.run([sys.executable, "-m", "pyinstrument", "-r", "text", "--no-color", "--no-unicode",
                               "-o", str(out), "-m", *module_args], env=env, capture_output=True, text=True,
                              cwd=ROOT, timeout=600)
        if proc.returncode != 0 or not out.exists():
            return {"tool": None, "note": f"pyinstrument failed (exit {proc.returncode}): "
                    f"{proc.stderr.strip()[-300:]}"}
        lines = [ln.rstrip() for ln in out.read_text().splitlines() if ln.strip()]
    return {"tool": f"pyinstrument {_version('pyinstrument')}", "tree": lines[:max_lines],
            "truncated": len(lines) > max_lines}


def _version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


# --------------------------------------------------------------------------- facts about the run
def git_commit(root: Path = ROOT) -> str | None:
    """HEAD's commit read from .git files (no git process: the suite must not touch the repository)."""
    git = root / ".git"
    if git.is_file():  # a worktree: "gitdir: <path>"
        text = git.read_text().strip()
        if not text.startswith("gitdir:"):
            return None
        git = (root / text.removeprefix("gitdir:").strip()).resolve()
    try:
        head = (git / "HEAD").read_text().strip()
    except OSError:
        return None
    if not head.startswith("ref:"):
        return head or None
    ref = head.removeprefix("ref:").strip()
    for base in (git, _common_dir(git)):
        try:
            return (base / ref).read_text().strip()
        except OSError:
            pass
        try:
            for line in (base / "packed-refs").read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0]
        except OSError:
            pass
    return None


def _common_dir(git: Path) -> Path:
    try:
        return (git / (git / "commondir").read_text().strip()).resolve()
    except OSError:
        return git


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict[str, Any]:
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {"python": sys.version.split()[0], "executable": sys.executable, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "cpu_affinity": affinity}


def is_finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def venv_tool(name: str) -> Path | None:
    """A console script next to this interpreter (the project's .venv/bin), if installed."""
    path = Path(sys.executable).parent / name
    return path if path.exists() else None


def base_env(**extra: str) -> dict[str, str]:
    """Environment for child processes: offline, headless, and the repository importable."""
    env = dict(os.environ)
    env.update({"YOLO_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MPLBACKEND": "Agg"})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env
