"""Two `physics` sets calibrated on a fold's training frames, written as Classes folders for
`bench generators compare`: simulated cracks (`physics-sim`) and cracks drawn around the training masks
(`physics-masks`, `cracks: train`). docs/generators.md quotes the comparison.

    python examples/study/physics_sets.py MATRIX OUT --n 80 --grid docs/images/flyd-s-physics-samples.png
    bench generators compare OUT/physics-sim OUT/physics-masks --real ROOT --test-groups Sample3,Sample8 \\
        --extractor cnn --extractor physics --out OUT/compare
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from benchbench.builtins.physics import PhysicsGenerator
from benchbench.data.split import load_split
from benchbench.frames import FrameSet
from benchbench.method.matrix import load_matrix
from benchbench.plugins import get_plugins
from benchbench.protocols import GenerationRequest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("matrix")
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=80)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--grid", help="also write a sample grid (real | each set; crack rows, then sane) here")
    args = ap.parse_args()
    matrix, _ = load_matrix(args.matrix)
    train = load_split(matrix, args.matrix, get_plugins()).train
    rows = {"real train, crack": train.positives(), "real train, sane": train.negatives()}
    for name, cracks in (("physics-sim", "simulated"), ("physics-masks", "train")):
        gen = PhysicsGenerator(cracks=cracks)
        cal = gen.calibrate(train)
        for label in ("crack", "sane"):
            folder = Path(args.out) / name / label
            folder.mkdir(parents=True, exist_ok=True)
            frames = gen.generate(GenerationRequest(label, args.n, seed=args.seed, calibration=cal))
            for i, f in enumerate(frames):
                Image.fromarray(f.load()).save(folder / f"{i:04d}.png")
            if not (cracks == "train" and label == "sane"):  # the same sane frames as physics-sim
                rows[f"{name}, {label}"] = FrameSet(frames, name)
    if args.grid:
        from benchbench.drawing.samples import sample_grid

        order = [k for k in rows if k.endswith("crack")] + [k for k in rows if k.endswith("sane")]
        sample_grid({k: rows[k] for k in order}, args.grid, n=8, seed=args.seed)


if __name__ == "__main__":
    main()
