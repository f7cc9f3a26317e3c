"""Generation speed of tiny DDPM pipelines (init-tiny) at 64 and 128 px: frames/s, wall and CPU.

    python plugins/benchbench-ddpm/scripts/speed.py [--threads 1] [--device cpu] [--n 16]

Prints one JSON line per (size, sampler, steps, batch). Numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--sizes", default="64,128")
    ap.add_argument("--runs", default="ddim:50:16,ddpm:1000:16", help="sampler:steps:batch,...")
    args = ap.parse_args()

    import torch

    from benchbench.api import CellContext
    from benchbench.diffusion import generation_speed
    from benchbench_ddpm.generator import DdpmGenerator
    from benchbench_ddpm.tiny import build_tiny_ddpm

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = CellContext(cell_id="speed", seed=0, work_dir=Path(tmp), cache_dir=Path(tmp) / "c", device=args.device)
        for size in map(int, args.sizes.split(",")):
            weights = build_tiny_ddpm(Path(tmp) / f"ddpm{size}", size=size)
            for run in args.runs.split(","):
                sampler, steps, batch = run.split(":")
                gen = DdpmGenerator(weights=weights, sampler=sampler, steps=int(steps), batch=int(batch),
                                    device=args.device)
                speed = generation_speed(gen, ctx, n=args.n, size=size)
                print(json.dumps({"pipeline": "tiny-ddpm", "size": size, "sampler": sampler, "steps": int(steps),
                                  "batch": int(batch), "device": args.device, "threads": args.threads, **speed}),
                      flush=True)


if __name__ == "__main__":
    main()
