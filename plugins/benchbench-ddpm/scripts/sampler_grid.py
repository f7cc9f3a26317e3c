"""The same guided-DDPM frames under several samplers, one labelled row each, with the time per row.

    python plugins/benchbench-ddpm/scripts/sampler_grid.py WEIGHTS OUT.png \
        [--rows ddim:0:50,ddim:0:250,ddim:1:50,ddpm:-:50,ddpm:-:250,ddpm:-:1000] [--n 6] [--guidance 3]

Row ``sampler:eta:steps``; every row starts from the same per-frame seeds (0..n-1), class ``crack``,
one torch thread, so the rows differ by the sampler only. Made docs/images/ddpm-guided-samplers-fold0.png.
"""

from __future__ import annotations

import argparse
import time

DEFAULT_ROWS = "ddim:0:50,ddim:0:250,ddim:1:50,ddpm:-:50,ddpm:-:250,ddpm:-:1000"
CELL, LABEL_WIDTH = 128, 190


def sample_row(weights: str, sampler: str, eta: str, steps: int, n: int, guidance: float):
    import torch

    from benchbench_ddpm.generator import load_pipeline
    from benchbench_ddpm.guided import guided_sample
    from benchbench_ddpm.model import CLASSES

    pipe = load_pipeline(weights, sampler=sampler)
    generators = [torch.Generator().manual_seed(k) for k in range(n)]
    extra = {"eta": float(eta)} if sampler == "ddim" else {}
    with torch.inference_mode():
        return guided_sample(pipe.unet, pipe.scheduler, CLASSES.index("crack"), guidance, steps, generators, **extra)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", help="the guided/ pipeline folder of `bench train ddpm --guided`")
    ap.add_argument("out")
    ap.add_argument("--rows", default=DEFAULT_ROWS)
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--guidance", type=float, default=3.0)
    args = ap.parse_args()

    import numpy as np
    import torch
    from PIL import Image, ImageDraw

    torch.set_num_threads(1)
    rows = []
    for spec in args.rows.split(","):
        sampler, eta, steps = spec.split(":")
        start = time.process_time()
        frames = sample_row(args.weights, sampler, eta, int(steps), args.n, args.guidance)
        seconds = time.process_time() - start
        label = f"{sampler.upper()}{'' if sampler == 'ddpm' else f' eta={eta}'}, {steps} steps"
        print(f"{label}: {seconds:.1f} CPU-s for {args.n} frames", flush=True)
        strip = Image.fromarray((np.concatenate(list(frames[..., 0]), axis=1) * 255).astype(np.uint8))
        rows.append((label, strip.resize((CELL * args.n, CELL))))
    out = Image.new("L", (LABEL_WIDTH + CELL * args.n, CELL * len(rows)), 20)
    draw = ImageDraw.Draw(out)
    for k, (label, strip) in enumerate(rows):
        out.paste(strip, (LABEL_WIDTH, CELL * k))
        draw.text((6, CELL * k + CELL // 2 - 6), label, fill=230)
    out.save(args.out, optimize=True)


if __name__ == "__main__":
    main()
