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
from typing import Any, NamedTuple

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
    sim = frame.meta.get("sim")
    if sim:
        # Serialising the scene was a third of a simulated cell's mask scoring, every cell anew; the
        # entry holds the scene itself, so its id cannot be reused while the entry lives.
        seen = _sim_keys.get(id(sim))
        if seen is None or seen[0] is not sim:
            if len(_sim_keys) >= 8192:
                _sim_keys.clear()
            seen = _sim_keys[id(sim)] = (sim, json.dumps(sim, sort_keys=True))
        return "sim", seen[1]
    return None


_sim_keys: dict[int, tuple[Any, str]] = {}


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
    return _count(_crack_geometry(rows, cols, thin, tuple(gt)), len(gt), kept, cover, distance)


class _Cracks(NamedTuple):
    """What counting needs of a frame's cracks, whatever the predictions: ``px``/``py`` pixel
    centres, ``in_crack`` (G, P) which pixels each gt box holds, ``lines`` each crack's skeleton
    pixel centres."""

    px: np.ndarray
    py: np.ndarray
    in_crack: np.ndarray
    n_px: np.ndarray
    lines: list[tuple[np.ndarray, np.ndarray]]
    crack_px: np.ndarray


def _crack_geometry(rows: np.ndarray, cols: np.ndarray, thin: np.ndarray | None,
                    gt: tuple[Box, ...]) -> _Cracks | None:
    """None without crack pixels or gt boxes (half of all frames): nothing to cover or hit."""
    if rows.size == 0 or not gt:
        return None
    px, py = cols + 0.5, rows + 0.5
    in_crack = _inside(px, py, np.array([[b.x, b.y, b.w, b.h] for b in gt], dtype=np.float64))  # (G, P)
    on_line = thin[rows, cols]
    lines = [(px[in_crack[g] & on_line], py[in_crack[g] & on_line]) for g in range(len(gt))]
    return _Cracks(px, py, in_crack, in_crack.sum(axis=1), lines, in_crack.any(axis=0))


@lru_cache(maxsize=4096)  # every cell of a run scores the same test frames: their geometry is shared
def _frame_cracks(kind: str, key: str, gt: tuple[Box, ...]) -> _Cracks | None:
    _, thin, rows, cols = _mask_and_skeleton(kind, key)
    return _crack_geometry(rows, cols, thin, gt)


def _count(cracks: _Cracks | None, n_gt: int, kept: Sequence[Box], cover: float, distance: float) -> np.ndarray:
    if cracks is None:
        return np.array([0, 0, n_gt, 0, len(kept), 0], dtype=np.int64)
    kept_arr = np.array([[b.x, b.y, b.w, b.h] for b in kept], dtype=np.float64).reshape(-1, 4)
    covered = _inside(cracks.px, cracks.py, kept_arr)  # (K, P)
    centres = kept_arr[:, :2] + kept_arr[:, 2:] / 2
    hits = np.zeros((n_gt, len(kept)), dtype=bool)  # (G, K): box k hits crack g
    if len(kept):
        shares = (covered.astype(np.float64) @ cracks.in_crack.T.astype(np.float64)).T  # (G, K) pixels covered
        for g, (lx, ly) in enumerate(cracks.lines):
            if cracks.n_px[g] == 0:
                continue
            near = np.zeros(len(kept), dtype=bool)
            if lx.size:
                d2 = (centres[:, :1] - lx) ** 2 + (centres[:, 1:] - ly) ** 2
                near = d2.min(axis=1) <= distance**2
            hits[g] = (shares[g] / cracks.n_px[g] >= cover) | near
    return np.array([int(cracks.crack_px.sum()), int((covered.any(axis=0) & cracks.crack_px).sum()), n_gt,
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
        rows.append(_count(_frame_cracks(*key, tuple(f.boxes)), len(f.boxes), kept, cover, distance))
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
