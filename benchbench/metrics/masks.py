"""Box-free scores from crack masks: they do not punish the 1-px offsets that ruin IoU 0.5.

Masks come from the frames: FLYD-S ``masks`` layout frames carry ``meta["mask"]`` (the PNG), the
simulator's frames ``meta["sim"]`` (the scene, from which the mask is redrawn). A crack is the mask
pixels inside one ground-truth box (the loaders derive those boxes from the mask components).
A pixel belongs to a box when its centre lies inside it. At a score threshold, over kept boxes
(score > threshold, as the frame metrics count them):

* **pixel recall**: share of crack pixels inside a kept box;
* **crack recall** (the hit rule): share of cracks *hit*, i.e. a kept box covers at least
  ``cover`` of the crack's pixels, or a kept box's centre lies within ``distance`` px of the
  crack's skeleton (Zhang–Suen thinning of its pixels);
* **box precision**: share of kept boxes that hit a crack by the same rule.

Per-frame counts are kept so that bootstrap CIs and per-specimen slices are sums.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from benchbench.errors import UserError
from benchbench.frames import Box, Frame

# Per-frame count columns; the scores are ratios of their sums.
COUNTS = ("crack_pixels", "covered_pixels", "cracks", "hit_cracks", "boxes", "hit_boxes")
DEFAULT_COVER = 0.5
DEFAULT_DISTANCE = 3.0  # px: the half-width of a 6-px crack box


def frame_mask(frame: Frame) -> np.ndarray | None:
    """The frame's crack mask (H x W bool), or None when the frame has none."""
    found = _mask_key(frame)
    return None if found is None else _mask_and_skeleton(*found)[0]


def _mask_key(frame: Frame) -> tuple[str, str] | None:
    if frame.meta.get("mask"):
        return "png", str(frame.meta["mask"])
    if frame.meta.get("sim"):
        return "sim", json.dumps(frame.meta["sim"], sort_keys=True)
    return None


@lru_cache(maxsize=4096)  # every cell of a run scores the same test masks: load and thin each once
def _mask_and_skeleton(kind: str, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The mask, its skeleton, and the rows and columns of its pixels (finding them is a third of
    a frame's counting)."""
    if kind == "png":
        from PIL import Image

        try:
            with Image.open(key) as im:
                mask = np.asarray(im.convert("L")) > 127
        except OSError as exc:
            raise UserError(f"unreadable mask ({exc})", file=key, fix="re-export the mask") from None
    else:
        from benchbench.data.simulate import FrameParams, crack_mask

        mask = crack_mask(FrameParams(**json.loads(key)))
    rows, cols = np.nonzero(mask)
    return mask, skeleton(mask), rows, cols


def skeleton(mask: np.ndarray) -> np.ndarray:
    """Zhang–Suen thinning: a one-pixel-wide centre line of each component."""
    img = np.pad(np.asarray(mask, dtype=bool), 1)
    while True:
        changed = False
        for step in (0, 1):
            p = [np.roll(np.roll(img, -dy, 0), -dx, 1) for dy, dx in
                 ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))]  # P2..P9 clockwise
            n = sum(q.astype(np.int8) for q in p)
            transitions = sum((~p[i] & p[(i + 1) % 8]).astype(np.int8) for i in range(8))
            a, b = (p[0] & p[2] & p[4], p[2] & p[4] & p[6]) if step == 0 else (p[0] & p[2] & p[6], p[0] & p[4] & p[6])
            remove = img & (n >= 2) & (n <= 6) & (transitions == 1) & ~a & ~b
            if remove.any():
                img &= ~remove
                changed = True
        if not changed:
            return img[1:-1, 1:-1]


def _inside(px: np.ndarray, py: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(B, P): pixel centres (px, py) inside each box (x, y, w, h)."""
    x, y, w, h = (boxes[:, i : i + 1] for i in range(4))
    return (px >= x) & (px <= x + w) & (py >= y) & (py <= y + h)


def frame_counts(mask: np.ndarray, gt: Sequence[Box], kept: Sequence[Box], cover: float = DEFAULT_COVER,
                 distance: float = DEFAULT_DISTANCE, thin: np.ndarray | None = None) -> np.ndarray:
    """The ``COUNTS`` of one frame: its mask, ground-truth boxes and the boxes kept at the threshold.

    ``thin``: the mask's skeleton when already known.
    """
    rows, cols = np.nonzero(mask)
    if thin is None and rows.size and len(gt):  # thinning is the costly part: only where it is read
        thin = skeleton(mask)
    return _pixel_counts(rows, cols, thin, gt, kept, cover, distance)


def _pixel_counts(rows: np.ndarray, cols: np.ndarray, thin: np.ndarray | None, gt: Sequence[Box],
                  kept: Sequence[Box], cover: float, distance: float) -> np.ndarray:
    """``frame_counts`` from the mask's pixel rows and columns and its skeleton (read only when
    there are crack pixels and gt boxes)."""
    if rows.size == 0 or not len(gt):  # no crack pixel: nothing to cover or hit (half of all frames)
        return np.array([0, 0, len(gt), 0, len(kept), 0], dtype=np.int64)
    px, py = cols + 0.5, rows + 0.5
    kept_arr = np.array([[b.x, b.y, b.w, b.h] for b in kept], dtype=np.float64).reshape(-1, 4)
    gt_arr = np.array([[b.x, b.y, b.w, b.h] for b in gt], dtype=np.float64).reshape(-1, 4)
    covered = _inside(px, py, kept_arr)  # (K, P)
    in_crack = _inside(px, py, gt_arr)  # (G, P)
    centres = kept_arr[:, :2] + kept_arr[:, 2:] / 2
    thin = thin[rows, cols]
    hits = np.zeros((len(gt), len(kept)), dtype=bool)  # (G, K): box k hits crack g
    for g in range(len(gt)):
        n_px = int(in_crack[g].sum())
        if n_px == 0 or not len(kept):
            continue
        share = (covered & in_crack[g]).sum(axis=1) / n_px
        line = in_crack[g] & thin
        near = np.zeros(len(kept), dtype=bool)
        if line.any():
            d2 = (centres[:, :1] - px[line]) ** 2 + (centres[:, 1:] - py[line]) ** 2
            near = d2.min(axis=1) <= distance**2
        hits[g] = (share >= cover) | near
    crack_px = in_crack.any(axis=0)
    return np.array([int(crack_px.sum()), int((covered.any(axis=0) & crack_px).sum()), len(gt),
                     int(hits.any(axis=1).sum()), len(kept), int(hits.any(axis=0).sum())], dtype=np.int64)


def mask_counts(frames: Sequence[Frame], preds: Sequence[Sequence[Box]], threshold: float,
                cover: float = DEFAULT_COVER, distance: float = DEFAULT_DISTANCE) -> np.ndarray | None:
    """(frames, COUNTS) at ``threshold``; None unless every frame has a mask."""
    if not frames or not all(f.meta.get("mask") or f.meta.get("sim") for f in frames):  # as _mask_key finds one
        return None
    rows = []
    for f, p in zip(frames, preds, strict=True):
        kept = [b for b in p if b.score > threshold]
        if not f.boxes:  # no crack to cover or hit: the mask need not be looked up
            rows.append(np.array([0, 0, 0, 0, len(kept), 0], dtype=np.int64))
            continue
        key = _mask_key(f)
        assert key is not None  # checked above
        _, thin, px_rows, px_cols = _mask_and_skeleton(*key)
        rows.append(_pixel_counts(px_rows, px_cols, thin, f.boxes, kept, cover, distance))
    return np.stack(rows)


# score -> (numerator, denominator) among COUNTS
_RATIOS = {"pixel_recall": ("covered_pixels", "crack_pixels"), "crack_recall": ("hit_cracks", "cracks"),
           "box_precision": ("hit_boxes", "boxes")}
MASK_METRICS = tuple(_RATIOS)


def mask_ratios(totals: np.ndarray) -> np.ndarray:
    """The ``MASK_METRICS`` of each row of summed counts (..., COUNTS), e.g. one per bootstrap
    resample; NaN where the denominator is 0."""
    totals = np.asarray(totals, dtype=np.float64)
    num = totals[..., [COUNTS.index(n) for n, _ in _RATIOS.values()]]
    den = totals[..., [COUNTS.index(d) for _, d in _RATIOS.values()]]
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def mask_scores(counts: np.ndarray) -> dict[str, float | None]:
    """Pixel recall, crack recall and box precision (None: nothing to divide by) from (summed or
    per-frame) counts."""
    ratios = mask_ratios(np.asarray(counts).reshape(-1, len(COUNTS)).sum(axis=0)).tolist()
    return {name: None if np.isnan(v) else v for name, v in zip(MASK_METRICS, ratios, strict=True)}


def mask_section(counts: np.ndarray, threshold: float, cover: float, distance: float,
                 cis: dict[str, tuple[float | None, float | None]] | None = None) -> dict[str, Any]:
    """The ``metrics.masks`` entry of results.json."""
    scores = mask_scores(counts)
    out: dict[str, Any] = {"threshold": threshold, "cover": cover, "distance_px": distance}
    for name in MASK_METRICS:
        out[name] = {"value": scores[name], "ci": list((cis or {}).get(name, (None, None)))}
    out["counts"] = dict(zip(COUNTS, counts.sum(axis=0).tolist(), strict=True))
    return out
