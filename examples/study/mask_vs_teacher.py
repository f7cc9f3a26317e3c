"""Mask-conditioned physics frames: their exact boxes (from the mask they were drawn around) against the
boxes a teacher would have given them. docs/generators.md ("Labels") quotes the output.

    python examples/study/mask_vs_teacher.py MATRIX --n 80 --out examples/study/results/mask_vs_teacher.json

MATRIX names the data and split (e.g. FLYD-S with test Sample3+8): the calibration and the teacher see its
training frames only. The teacher is the `classic` detector fitted on them (deterministic, no torch); the
frames are `physics` with `cracks: train`, calibrated on the same training frames. For each teacher rule:
the share of cracked frames it labels, and for those its top box against the mask box (IoU, centre distance).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from benchbench.builtins.classic import ClassicDetector
from benchbench.builtins.physics import PhysicsGenerator
from benchbench.data.split import load_split
from benchbench.frames import Box, FrameSet
from benchbench.method.matrix import load_matrix
from benchbench.method.teacher import teacher_labels, top_scores
from benchbench.plugins import get_plugins
from benchbench.protocols import CellContext, GenerationRequest

RULES = {"relative q0.25 (default)": ("relative", 0.5, 0.25), "relative q0.5": ("relative", 0.5, 0.5),
         "absolute 0.5": ("absolute", 0.5, 0.25), "absolute 0.3 (the study's)": ("absolute", 0.3, 0.25)}


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    return inter / (a.w * a.h + b.w * b.h - inter) if inter else 0.0


def compare(preds, truth, reference) -> dict[str, dict]:
    out = {}
    for name, (rule, thr, q) in RULES.items():
        chosen, info = teacher_labels(preds, rule=rule, threshold=thr, quantile=q, reference=reference)
        pairs = [(max(c, key=lambda b: b.score), t[0]) for c, t in zip(chosen, truth, strict=True) if c]
        ious = np.array([iou(a, b) for a, b in pairs])
        dist = np.array([np.hypot(a.x + a.w / 2 - b.x - b.w / 2, a.y + a.h / 2 - b.y - b.h / 2) for a, b in pairs])
        out[name] = {"threshold": info["threshold"], "labelled": f"{len(pairs)}/{len(preds)}",
                     "iou_median": round(float(np.median(ious)), 3) if pairs else None,
                     "iou>=0.1": round(float(np.mean(ious >= 0.1)), 3) if pairs else None,
                     "iou>=0.3": round(float(np.mean(ious >= 0.3)), 3) if pairs else None,
                     "centre_dist_median_px": round(float(np.median(dist)), 1) if pairs else None,
                     "real_sane_above": info["reference_sane_above"]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("matrix")
    ap.add_argument("--n", type=int, default=80)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out")
    args = ap.parse_args()
    matrix, _ = load_matrix(args.matrix)
    train = load_split(matrix, args.matrix, get_plugins()).train
    gen = PhysicsGenerator(cracks="train")
    cal = gen.calibrate(train)
    frames = FrameSet(gen.generate(GenerationRequest("crack", args.n, seed=args.seed, calibration=cal)), "physics")
    with tempfile.TemporaryDirectory() as tmp:
        ctx = CellContext("mask-vs-teacher", args.seed, Path(tmp), Path(tmp), device="cpu", quiet=True)
        teacher = ClassicDetector()
        teacher.fit(train, None, ctx)
        preds = teacher.predict(frames, ctx)
        reference = {"crack": top_scores(teacher.predict(train.positives(), ctx)),
                     "sane": top_scores(teacher.predict(train.negatives(), ctx))}
    truth = [f.boxes for f in frames]
    result = {"frames": args.n, "seed": args.seed, "train_groups": cal["groups"], "train_frames": cal["frames"],
              "teacher": "classic", "generator": "physics cracks: train",
              "mask_boxes": {"labelled": f"{sum(bool(t) for t in truth)}/{args.n}"},
              "rules": compare(preds, truth, reference)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
