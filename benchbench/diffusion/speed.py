"""Generation speed of diffusion generators: the measurement and the plugins' ``scripts/speed.py``."""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchbench.protocols import CellContext, GenerationRequest


def generation_speed(gen: Any, ctx: CellContext, *, n: int, size: int,
                     guidance: float | None = None) -> dict[str, float]:
    """Wall frames per second and CPU seconds per frame of ``gen`` generating ``n`` crack frames.

    A one-frame request first loads the pipeline and warms the kernels up; it costs a whole
    batch, as :func:`generate_frames` computes aligned groups.
    """
    import time

    gen.generate(GenerationRequest(label="crack", n=1, guidance=guidance, seed=99, size=size), ctx)
    wall, cpu = time.perf_counter(), time.process_time()
    gen.generate(GenerationRequest(label="crack", n=n, guidance=guidance, seed=1, size=size), ctx)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"frames_per_s": round(n / wall, 3), "cpu_s_per_frame": round(cpu / n, 3)}


def speed_script(pipeline: str, build: Callable[[Path, int], Path], make: Callable[..., Any], *, runs: str,
                 n: int, guidance: float | None = None, argv: list[str] | None = None) -> list[dict[str, Any]]:
    """The ``scripts/speed.py`` of a diffusion generator plugin; prints (and returns) one JSON line per run.

    Options: ``--threads`` (torch threads, default 1), ``--device``, ``--n`` frames per run,
    ``--sizes`` (native resolutions of the tiny pipelines, default 64,128) and ``--runs``
    (``sampler:steps:batch,...``, default ``runs``). ``build(out, size)`` writes a tiny pipeline and
    returns its folder; ``make(weights, sampler=, steps=, batch=, device=)`` returns the generator.
    Numbers depend on the machine and its load.
    """
    ap = argparse.ArgumentParser(description=f"Generation speed of {pipeline} pipelines: frames/s, wall and CPU.")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n", type=int, default=n)
    ap.add_argument("--sizes", default="64,128")
    ap.add_argument("--runs", default=runs, help="sampler:steps:batch,...")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        ctx = CellContext(cell_id="speed", seed=0, work_dir=Path(tmp), cache_dir=Path(tmp) / "c", device=args.device)
        for size in map(int, args.sizes.split(",")):
            weights = build(Path(tmp) / f"{pipeline}-{size}", size)
            for run in args.runs.split(","):
                sampler, steps, batch = run.split(":")
                gen = make(weights, sampler=sampler, steps=int(steps), batch=int(batch), device=args.device)
                line = {"pipeline": pipeline, "size": size, "sampler": sampler, "steps": int(steps),
                        "batch": int(batch), "guidance": guidance, "device": args.device, "threads": args.threads,
                        **generation_speed(gen, ctx, n=args.n, size=size, guidance=guidance)}
                print(json.dumps(line), flush=True)
                lines.append(line)
    return lines
