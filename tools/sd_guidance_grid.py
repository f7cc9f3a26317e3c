"""A sample grid per guidance scale: the same seeds' crack and sane frames of an `sd` generator.

    python tools/sd_guidance_grid.py --negative W/negative --positive W/positive \
        --real EXPORT --out docs/images/sd-base-guidance.png --guidance 1,3,7.5

One row of real frames (``--real``: an exported training set, crack/ and sane/), then one row per
guidance: ``--n`` crack frames, then ``--n`` sane frames, frame i from the same seed in every row, so a
column shows what guidance alone changes. Prints the mean absolute grey difference between the rows.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="one pipeline for both classes (the prompts tell them apart)")
    ap.add_argument("--negative", default=None)
    ap.add_argument("--positive", default=None)
    ap.add_argument("--real", default=None, help="exported frames (crack/, sane/) for a first row")
    ap.add_argument("--guidance", default="1,3,7.5")
    ap.add_argument("--n", type=int, default=4, help="frames per class and row")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--scheduler", default="euler-a", help="ancestral: ddim leaves grain on a short UNet")
    ap.add_argument("--guidance-rescale", type=float, default=0.0, help="e.g. 0.7 for a zero-snr base")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    from benchbench_sd.generator import StableDiffusionGenerator

    from benchbench.api import Frame, FrameSet, GenerationRequest
    from benchbench.drawing.samples import sample_grid
    from benchbench.testing import make_context

    torch.set_num_threads(1)
    gen = StableDiffusionGenerator(weights=args.weights, negative=args.negative, positive=args.positive,
                                   steps=args.steps, scheduler=args.scheduler, batch=args.n,
                                   guidance_rescale=args.guidance_rescale)
    rows: dict[str, FrameSet] = {}
    if args.real:
        rows["real (training)"] = FrameSet(
            [Frame(path=p, width=1, height=1, label=label, boxes=None if label == "crack" else ())
             for label in ("crack", "sane") for p in sorted((Path(args.real) / label).iterdir())[:args.n]])
    with tempfile.TemporaryDirectory() as tmp:
        ctx = make_context(tmp)
        for g in (float(v) for v in args.guidance.split(",")):
            rows[f"guidance {g:g}"] = FrameSet([f for label in ("crack", "sane") for f in gen.generate(
                GenerationRequest(label=label, n=args.n, guidance=g, seed=args.seed, size=128), ctx)])
    png = sample_grid(rows, args.out, n=2 * args.n)
    synth = [name for name in rows if name.startswith("guidance")]
    diffs = {f"{a} vs {b}": round(float(np.mean([np.abs(x.load()[..., 0].astype(float) - y.load()[..., 0])
                                                  for x, y in zip(rows[a], rows[b], strict=True)])), 2)
             for a, b in itertools.combinations(synth, 2)}
    print(json.dumps({"grid": str(png), "mean_abs_grey_difference": diffs}, indent=1))


if __name__ == "__main__":
    main()
