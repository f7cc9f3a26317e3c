"""Generation speed of tiny SD pipelines (init-tiny) at 64 and 128 px: frames/s, wall and CPU.

    python plugins/benchbench-sd/scripts/speed.py [--threads 1] [--device cpu] [--steps 20] [--n 8]

Prints one JSON line per (size, batch). Numbers depend on the machine and its load.
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
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--sizes", default="64,128")
    ap.add_argument("--batches", default="1,4")
    args = ap.parse_args()

    import torch

    from benchbench.api import CellContext
    from benchbench.diffusion import generation_speed
    from benchbench_sd.generator import StableDiffusionGenerator
    from benchbench_sd.tiny import build_tiny_sd

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = CellContext(cell_id="speed", seed=0, work_dir=Path(tmp), cache_dir=Path(tmp) / "c", device=args.device)
        for size in map(int, args.sizes.split(",")):
            weights = build_tiny_sd(Path(tmp) / f"sd{size}", size=size)
            for batch in map(int, args.batches.split(",")):
                gen = StableDiffusionGenerator(weights=weights, steps=args.steps, scheduler="ddim", batch=batch,
                                               device=args.device)
                speed = generation_speed(gen, ctx, n=args.n, size=size, guidance=7.5)
                print(json.dumps({"pipeline": "tiny-sd", "size": size, "batch": batch, "steps": args.steps,
                                  "scheduler": "ddim", "guidance": 7.5, "device": args.device,
                                  "threads": args.threads, **speed}), flush=True)


if __name__ == "__main__":
    main()
