"""Labels of synthetic cracked frames: the teacher labeler's rule (which boxes of a real-only model become
a frame's labels) and the mask labeler's (the boxes of the crack mask the frame was drawn around).

A fixed score threshold (0.5, or 0.3 in the study) fits only a confident model: a detector trained from
scratch on a few hundred frames finds cracks with scores of 0.05-0.3 and kept 0-1 of 82 synthetic
cracked frames. The ``relative`` rule reads the threshold off the teacher's own scores instead: its
top-box score on each REAL cracked training frame is the reference, and a synthetic frame keeps its top
box when that box scores at least the ``quantile`` of the reference (0.25: as confident as the teacher
is on three real cracks in four). The ``absolute`` rule keeps every box scoring ``threshold`` or more.

Scores on training frames are the teacher's scores on frames it fitted, so the reference is optimistic
for an over-fitted model: the threshold is then higher and fewer synthetic frames pass — the safe side.
The teacher's top scores on real SANE training frames are recorded beside it: the share of them above
the threshold is how often the rule would have put a box on a real frame without a crack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from benchbench.data.flyd import mask_boxes
from benchbench.errors import UserError
from benchbench.frames import Box, Frame


def top_scores(preds: Sequence[Sequence[Box]]) -> list[float]:
    """The highest box score per frame (0 for a frame without a box)."""
    return [max((float(b.score) for b in boxes), default=0.0) for boxes in preds]


def passes(score: float, thr: float) -> bool:
    """The teacher rule's test of one box: at or above the threshold, and a box scoring 0 never counts."""
    return score >= thr and score > 0


def threshold_of(rule: str, threshold: float, quantile: float, reference: Sequence[float]) -> float:
    """The score a synthetic frame's box needs: ``threshold`` (absolute rule, or no reference frame),
    else the ``quantile`` of the reference top scores."""
    if rule == "absolute" or not reference:
        return float(threshold)
    return float(np.quantile(np.asarray(reference, float), quantile))


def teacher_labels(preds: Sequence[Sequence[Box]], *, rule: str, threshold: float, quantile: float,
                   reference: dict[str, list[float]]) -> tuple[list[tuple[Box, ...] | None], dict[str, Any]]:
    """Per synthetic cracked frame the boxes it trains with (None: the frame is dropped), and what the rule
    did (``rule``, ``threshold``, the reference's size and median, the share of real sane frames above it).

    ``reference``: the teacher's top scores on the real training frames, ``{"crack": [...], "sane": [...]}``.
    A box scoring 0 never counts, whatever the threshold (a model that scores nothing labels nothing).
    """
    crack, sane = reference.get("crack", []), reference.get("sane", [])
    thr = threshold_of(rule, threshold, quantile, crack)
    out: list[tuple[Box, ...] | None] = []
    for boxes in preds:
        passing = [b for b in boxes if passes(b.score, thr)]
        if rule == "relative":
            passing = sorted(passing, key=lambda b: -b.score)[:1]
        out.append(tuple(passing) or None)
    info = {"rule": rule, "threshold": round(thr, 6), "kept": sum(b is not None for b in out), "frames": len(out),
            "reference_crack_frames": len(crack),
            "reference_crack_median": round(float(np.median(crack)), 6) if crack else None,
            "reference_sane_above": _share_above(sane, thr)}
    if rule == "relative":
        info["quantile"] = quantile
    return out, info


def _share_above(scores: Sequence[float], thr: float) -> float | None:
    if not scores:
        return None
    s = np.asarray(scores, float)
    return round(float(np.mean((s >= thr) & (s > 0))), 4)


def frame_mask_boxes(frame: Frame, generator: str) -> tuple[Box, ...]:
    """The boxes of a generated frame's crack mask (``meta["mask"]``, a PNG the cache wrote), by the rule
    the FLYD-S masks loader uses; () for an empty mask (the frame is then dropped from training)."""
    path = frame.meta.get("mask")
    if not isinstance(path, str):
        raise UserError(f"generator '{generator}' gave cracked frame {frame.stem} without a crack mask",
                        field="labeler", fix="use a generator that draws around a mask (physics), or give the row "
                        "labeler: teacher")
    from PIL import Image  # PIL: heavy, off the start-up path

    with Image.open(path) as im:
        return tuple(mask_boxes(np.asarray(im.convert("L")) > 127))


def mask_agreement(frames: Sequence[Frame], boxes: Sequence[Sequence[Box]], generator: str) -> dict[str, int]:
    """Of teacher-labelled frames that carry the crack mask they were drawn around, how many got a box on that
    crack (the crack metrics' hit rule: the box covers half the crack's pixels or its centre lies within 3 px of
    the crack's skeleton). A mask-conditioned generator is asked to draw the crack at its mask; this says how
    often the teacher finds it there, which the mask's own boxes cannot."""
    from benchbench.metrics.masks import COUNTS, mask_counts  # numpy only, but the crack metrics' module

    truth = [f.with_boxes(frame_mask_boxes(f, generator)) for f in frames]
    counts = mask_counts(truth, boxes, threshold=-np.inf)
    on = 0 if counts is None else int((counts[:, COUNTS.index("hit_boxes")] > 0).sum())
    return {"on_mask": on, "with_mask": len(frames)}
