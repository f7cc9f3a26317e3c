"""Item 5: physics simulator throughput (frames/s) at 128 px and 256 px, on one core.

The worker runs with one BLAS/OpenMP thread (registry.ONE_THREAD) and pins itself to one CPU.
Reference, same run, same frames: the harness's cache round trip of a generated frame (PNG +
sidecar written, then read back and decoded), i.e. what storing each simulated frame costs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from benchmarks import core
from benchmarks.core import BenchResult, Figure

NAME = "simulator"
TARGET_FPS = 200.0  # at 128 px


def pin_one_core() -> int | None:
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError):
        return None
    return cpu


def cache_round_trip(frames) -> None:
    from benchbench.records.cache import Cache

    with tempfile.TemporaryDirectory(prefix="benchbench-simcache-") as tmp:
        cache = Cache(Path(tmp))
        for i, f in enumerate(frames):
            key = f"{i:064x}"
            cache.put_frame(key, f)
            cache.get_frame(key).load()


def run(quick: bool = False, profile: bool = True) -> BenchResult:
    from benchbench.data.simulate import VERSION, simulate_frames

    res = BenchResult(NAME)
    cpu = pin_one_core()
    res.notes.append(f"simulator version {VERSION}; pinned to CPU {cpu}, "
                     f"OMP/OPENBLAS threads {os.environ.get('OPENBLAS_NUM_THREADS', 'default')}")
    repeats = 1 if quick else 3
    for size, n in ((128, 40 if quick else 200), (256, 10 if quick else 60)):
        simulate_frames(4, seed=99, size=size)  # warm-up: imports, cached grids and specimens
        st, frames = core.time_call(lambda size=size, n=n: simulate_frames(n, seed=1, size=size), repeats)
        ref, _ = core.time_call(lambda frames=frames: cache_round_trip(frames), repeats)
        fps, fps_cpu = n / st["median"], n / st["cpu_median"]
        target = size == 128
        fig = res.add(Figure(
            NAME, f"simulate_frames at {size} px", fps, "frames/s", "cache round trip",
            n / ref["median"], higher_is_better=True, target=f">= {TARGET_FPS:g} frames/s on one core" if target
            else None, met=(fps >= TARGET_FPS) if target else None,
            details={"frames": n, "timing": st, "frames_per_s_cpu_time": fps_cpu,
                     "met_on_cpu_time": (fps_cpu >= TARGET_FPS) if target else None, "reference_timing": ref,
                     "cracked": sum(f.label == "crack" for f in frames)}))
        if profile and fig.met is False:
            res.profiles[fig.name] = core.profile_call(lambda size=size, n=n: simulate_frames(n, seed=2, size=size))
    return res
