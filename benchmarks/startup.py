"""Item 1: CLI start-up of `bench --help` and `bench plugins` against `yolo help` and `import torch`.

Each command is a fresh subprocess, timed with time.perf_counter around subprocess.run (hyperfine
is used when installed), round-robin over the commands so a load spike hits all of them alike;
the figure is the median. `bench plugins` runs with every installed plugin (no allowlist).
The import breakdown (python -X importtime) is always recorded: it is what explains a slow start.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import core
from benchmarks.core import BenchResult, Figure

NAME = "startup"
TARGET_S = 0.3
TARGET_RATIO = 0.2
HEAVY = ("torch", "ultralytics", "transformers", "diffusers", "matplotlib", "pycocotools", "scipy")


def commands(config_dir: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    bench = core.venv_tool("bench")
    bench_argv = [str(bench)] if bench else [sys.executable, "-m", "benchbench.cli"]
    # All installed plugins: no allowlist, no extra modules (conftest-style isolation is for tests).
    env = {k: v for k, v in core.base_env().items() if k not in ("BENCHBENCH_PLUGINS", "BENCHBENCH_PLUGIN_MODULES")}
    cmds = {"bench --help": ([*bench_argv, "--help"], env),
            "bench plugins": ([*bench_argv, "plugins"], env),
            'python -c "import torch"': ([sys.executable, "-c", "import torch"], env),
            'python -c "pass"': ([sys.executable, "-c", "pass"], env),
            # What core's eager numpy import (benchbench.api) costs a command that needs no array.
            'python -c "import numpy"': ([sys.executable, "-c", "import numpy"], env)}
    yolo = core.venv_tool("yolo")
    if yolo:
        # A private config dir: ultralytics writes settings on first use and must not touch the user's.
        cmds["yolo help"] = ([str(yolo), "help"], env | {"YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(config_dir)})
    return cmds


def hyperfine(cmds: dict[str, tuple[list[str], dict[str, str]]], runs: int) -> dict[str, dict[str, Any]] | None:
    """Median per command from hyperfine, if installed (None otherwise: perf_counter timing is used)."""
    exe = shutil.which("hyperfine")
    if exe is None:
        return None
    out: dict[str, dict[str, Any]] = {}
    for name, (argv, env) in cmds.items():
        with tempfile.NamedTemporaryFile(suffix=".json") as fh:
            proc = subprocess.run([exe, "-N", "--warmup", "1", "--runs", str(runs), "--export-json", fh.name,
                                   shlex.join(argv)], env=env, capture_output=True, cwd=core.ROOT)
            if proc.returncode != 0:
                out[name] = {"error": proc.stderr.decode(errors="replace").strip()[-200:]}
                continue
            result = json.loads(Path(fh.name).read_text())["results"][0]
        # hyperfine reports CPU time as a mean over the runs, not per run.
        out[name] = core.summary_stats(result["times"]) | {"cpu_median": result["user"] + result["system"],
                                                           "cpu_is_mean": True}
    return out


def import_profile(argv: list[str], env: dict[str, str], top: int = 12) -> dict[str, Any]:
    """Top-level imports by cumulative time (python -X importtime), and whether heavy packages load."""
    proc = subprocess.run(argv, env=env | {"PYTHONPROFILEIMPORTTIME": "1"}, capture_output=True, text=True,
                          cwd=core.ROOT, timeout=300)
    rows: list[tuple[int, str]] = []
    loaded: set[str] = set()
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        module = name.strip()
        loaded.add(module.split(".")[0])
        if not name.startswith("  "):  # top level: an import the program itself made
            rows.append((int(parts[1]), module))
    rows.sort(reverse=True)
    return {"tool": "python -X importtime", "total_ms": round(sum(us for us, _ in rows) / 1000, 1),
            "top_imports_ms": {m: round(us / 1000, 1) for us, m in rows[:top]},
            "heavy_loaded": sorted(set(HEAVY) & loaded), "modules": len(loaded)}


def plugin_list(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run([*argv, "plugins", "--json"], env=env, capture_output=True, text=True, cwd=core.ROOT,
                          timeout=300)
    try:
        rows = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {"error": (proc.stderr.strip() or proc.stdout.strip())[-300:]}
    return {r["name"]: {"version": r["version"], "errors": r["errors"]} for r in rows}


def run(quick: bool = False, profile: bool = True) -> BenchResult:
    res = BenchResult(NAME)
    runs = 3 if quick else 10
    with tempfile.TemporaryDirectory(prefix="benchbench-yolo-cfg-") as cfg:
        cmds = commands(Path(cfg))
        stats = hyperfine(cmds, runs)
        tool = "hyperfine" if stats is not None else "time.perf_counter around subprocess.run"
        if stats is None:
            stats = core.time_commands(cmds, runs)
    res.notes.append(f"timed with {tool}, median of {runs} runs after 1 warm-up, commands interleaved")
    if quick:
        res.notes.append("--quick: 3 runs per command (the issue asks for >= 10 in a real run)")
    yolo = stats.get("yolo help", {"error": "ultralytics' yolo CLI is not installed in this environment"})
    torch = stats['python -c "import torch"']
    floor = stats['python -c "pass"']
    numpy = stats['python -c "import numpy"']
    bench_argv = cmds["bench --help"][0][:-1]
    env = cmds["bench --help"][1]
    res.notes.append(f"installed plugins seen by `bench plugins`: {json.dumps(plugin_list(bench_argv, env))}")
    for name in ("bench --help", "bench plugins"):
        st = stats[name]
        if "error" in st:
            res.add(Figure(NAME, f"`{name}` start-up", None, "s", "yolo help", skipped=st["error"]))
            continue
        ref = yolo.get("median")
        ratio = st["median"] / ref if ref else None
        met = st["median"] <= TARGET_S and (ratio is not None and ratio <= TARGET_RATIO)
        cpu_ratio = st["cpu_median"] / yolo["cpu_median"] if yolo.get("cpu_median") else None
        met_cpu = st["cpu_median"] <= TARGET_S and cpu_ratio is not None and cpu_ratio <= TARGET_RATIO
        fig = res.add(Figure(
            NAME, f"`{name}` start-up", st["median"], "s", "`yolo help`", ref,
            target=f"<= {TARGET_S:g} s and <= {TARGET_RATIO:g}x yolo help", met=met if ref else None,
            skipped=None if ref else f"reference missing: {yolo.get('error')}",
            details={"timing": st, "yolo_help": yolo, "import_torch": torch, "python_floor": floor,
                     "import_numpy": numpy, "met_on_cpu_time": met_cpu if ref else None,
                     "ratio_vs_import_torch": st["median"] / torch["median"] if "median" in torch else None,
                     "above_python_floor_s": st["median"] - floor["median"] if "median" in floor else None,
                     "numpy_import_s": numpy["median"] - floor["median"] if "median" in numpy else None,
                     "imports": import_profile([*bench_argv, *name.split()[1:]], env)}))
        if profile and fig.met is False:
            # Imports by cumulative time, plus a sampled call tree of the whole process.
            res.profiles[fig.name] = {"imports": fig.details["imports"],
                                      "calls": core.profile_module(["benchbench.cli", *name.split()[1:]], env)}
    res.add(Figure(NAME, "`python -c \"import torch\"` (reference)", torch.get("median"), "s", "`yolo help`",
                   yolo.get("median"), skipped=torch.get("error"), details={"timing": torch}))
    return res
