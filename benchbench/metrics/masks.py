"""Box-free scores from crack masks: they do not punish the 1-px offsets that ruin IoU 0.5.

Masks come from the frames, whatever made them: ``meta["mask"]`` is the mask's PNG (FLYD-S ``masks``
layout frames, cached generated frames) or a callable that draws it (the simulated dataset's frames).
A crack is the mask pixels inside one ground-truth box (the loaders derive those boxes from the mask
components). A pixel belongs to a box when its centre lies inside it. At a score threshold, over kept boxes
(score > threshold, as the frame metrics count them):

* **pixel recall**: share of crack pixels inside a kept box;
* **crack recall** (the hit rule): share of cracks *hit*, i.e. a kept box covers at least
  ``cover`` of the crack's pixels, or a kept box's centre lies within ``distance`` px of the
  crack's skeleton (Zhang–Suen thinning of its pixels);
* **box precision**: share of kept boxes that hit a crack by the same rule.

Per-frame counts are kept so that bootstrap CIs and per-specimen slices are sums.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from benchbench.errors import UserError
from benchbench.frames import Box, Frame
from benchbench.metrics.prcurves import hits_needed

# Per-frame count columns; the scores are ratios of their sums.
COUNTS = ("crack_pixels", "covered_pixels", "cracks", "hit_cracks", "boxes", "hit_boxes")
DEFAULT_COVER = 0.5
DEFAULT_DISTANCE = 3.0  # px: the half-width of a 6-px crack box


def frame_mask(frame: Frame) -> np.ndarray | None:
    """The frame's crack mask (H x W bool), or None when the frame has none. Read afresh: a caller that
    wants masks once per frame (an export, a detector's training samples) should not pay for the
    skeletons and the cache that scoring keeps."""
    ref = _mask_ref(frame)
    return None if ref is None else _read_mask(ref)


def resize_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """A crack mask at ``width`` x ``height``, by area with any covered pixel kept: a one-pixel crack
    survives a shrink (the rule every resized frame's mask follows)."""
    from PIL import Image

    im = Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255)
    return np.asarray(im.resize((width, height), Image.Resampling.BOX)) > 0


def _mask_ref(frame: Frame) -> Hashable | None:
    """What ``meta["mask"]`` names, as the key the masks are cached by: a file's path, or the drawing
    itself (equal drawings compare equal, so each cell of a run finds the masks the first one drew)."""
    mask = frame.meta.get("mask")
    if isinstance(mask, str | os.PathLike):
        return str(mask) or None
    return mask if callable(mask) else None


@lru_cache(maxsize=4096)  # every cell of a run scores the same test masks: load and thin each once
def _mask_and_skeleton(ref: str | Callable[[], np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The mask, its skeleton, and the rows and columns of its pixels (finding them is a third of
    a frame's counting)."""
    mask = _read_mask(ref)
    rows, cols = np.nonzero(mask)
    return mask, skeleton(mask), rows, cols


def _read_mask(ref: str | Callable[[], np.ndarray]) -> np.ndarray:
    if callable(ref):
        return np.asarray(ref(), dtype=bool)
    from PIL import Image

    try:
        with Image.open(ref) as im:
            return np.asarray(im.convert("L")) > 127
    except OSError as exc:
        raise UserError(f"unreadable mask ({exc})", file=ref, fix="re-export the mask") from None


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


@lru_cache(maxsize=4096)  # every cell of a run scores the same test frames: their geometry is shared
def _frame_cracks(ref: Hashable, gt: tuple[Box, ...]) -> _Cracks | None:
    """None without crack pixels or gt boxes (half of all frames): nothing to cover or hit."""
    _, thin, rows, cols = _mask_and_skeleton(ref)
    if rows.size == 0 or not gt:
        return None
    px, py = cols + 0.5, rows + 0.5
    in_crack = _inside(px, py, _as_array(gt))  # (G, P)
    on_line = thin[rows, cols]
    lines = [(px[in_crack[g] & on_line], py[in_crack[g] & on_line]) for g in range(len(gt))]
    return _Cracks(px, py, in_crack, in_crack.sum(axis=1), lines, in_crack.any(axis=0))


def _hits(cracks: _Cracks, boxes: np.ndarray, cover: float, distance: float
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For boxes (K, 4): (G, K) box k hits crack g, (G, K) the share of crack g's pixels box k
    covers, and (K, P) the crack pixels inside each box."""
    covered = _inside(cracks.px, cracks.py, boxes)  # (K, P)
    n_gt, n_boxes = cracks.in_crack.shape[0], boxes.shape[0]
    hits, shares = np.zeros((n_gt, n_boxes), dtype=bool), np.zeros((n_gt, n_boxes))
    if not n_boxes:
        return hits, shares, covered
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    pixels = (covered.astype(np.float64) @ cracks.in_crack.T.astype(np.float64)).T  # (G, K) pixels covered
    for g, (lx, ly) in enumerate(cracks.lines):
        if cracks.n_px[g] == 0:
            continue
        shares[g] = pixels[g] / cracks.n_px[g]
        near = np.zeros(n_boxes, dtype=bool)
        if lx.size:
            near = ((centres[:, :1] - lx) ** 2 + (centres[:, 1:] - ly) ** 2).min(axis=1) <= distance**2
        hits[g] = (shares[g] >= cover) | near
    return hits, shares, covered


def _as_array(boxes: Sequence[Box]) -> np.ndarray:
    return np.array([[b.x, b.y, b.w, b.h] for b in boxes], dtype=np.float64).reshape(-1, 4)


class HitTable(NamedTuple):
    """Every predicted box of a frame set, highest score first: its frame and whether it found a
    crack by the hit rule; the cracks of each frame; and, at each hit, the hits and the boxes of each
    frame so far (hits, frames), from which any resample's running counts are one product."""

    frame: np.ndarray
    hit: np.ndarray
    cracks: np.ndarray
    hits_so_far: np.ndarray
    boxes_so_far: np.ndarray


def _claim(hits: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Which boxes (columns, in score order) find a crack: each claims the unclaimed crack it hits with
    the largest covered share (COCO's greedy matching, with the hit rule for IoU); a box hitting only
    claimed cracks is a duplicate."""
    found = np.zeros(hits.shape[1], dtype=bool)
    if not found.size:
        return found
    if len(hits) == 1:  # most frames: the first box to hit the crack finds it
        found[int(np.argmax(hits[0]))] = bool(hits[0].any())
        return found
    free = np.ones(len(hits), dtype=bool)
    for j in np.flatnonzero(hits.any(axis=0)):
        open_hits = hits[:, j] & free
        if open_hits.any():
            free[int(np.argmax(np.where(open_hits, shares[:, j], -1.0)))] = False
            found[j] = True
    return found


def score_masks(frames: Sequence[Frame], preds: Sequence[Sequence[Box]], threshold: float,
                cover: float = DEFAULT_COVER, distance: float = DEFAULT_DISTANCE
                ) -> tuple[np.ndarray, HitTable] | None:
    """The per-frame ``COUNTS`` at ``threshold`` and the ``HitTable`` of the boxes of every score, from
    one matching of each frame's boxes to its cracks; None unless every frame has a mask."""
    if not frames or any(_mask_ref(f) is None for f in frames):
        return None
    rows, frame_of, hit_of, score_of = [], [], [], []
    for i, (f, p) in enumerate(zip(frames, preds, strict=True)):
        order = sorted(range(len(p)), key=lambda k: -p[k].score)
        scores = [p[k].score for k in order]
        n_kept = sum(s > threshold for s in scores)  # boxes kept at the threshold: a prefix in score order
        found = np.zeros(len(p), dtype=bool)
        ref = _mask_ref(f) if f.boxes else None  # no crack to cover or hit: the mask need not be looked up
        cracks = _frame_cracks(ref, tuple(f.boxes)) if ref is not None else None
        if cracks is None:
            rows.append([0, 0, len(f.boxes), 0, n_kept, 0])
        else:
            hits, shares, covered = _hits(cracks, _as_array([p[k] for k in order]), cover, distance)
            found = _claim(hits, shares)
            kept_hits = hits[:, :n_kept]
            rows.append([int(cracks.crack_px.sum()), int((covered[:n_kept].any(axis=0) & cracks.crack_px).sum()),
                         len(f.boxes), int(kept_hits.any(axis=1).sum()), n_kept, int(kept_hits.any(axis=0).sum())])
        frame_of += [i] * len(p)
        hit_of.append(found)
        score_of += scores
    ranked = np.argsort(-np.asarray(score_of, dtype=np.float64), kind="mergesort")  # ties: frame order
    frame = np.asarray(frame_of, dtype=np.int64)[ranked]
    hit = (np.concatenate(hit_of) if hit_of else np.zeros(0, dtype=bool))[ranked]
    at = np.flatnonzero(hit)
    one_hot = np.zeros((at.size, len(frames)))
    one_hot[np.arange(at.size), frame[at]] = 1.0
    # boxes of frame f up to position q: those among frame f's positions (sorted) that are <= q
    by_frame = np.sort(frame * (hit.size + 1) + np.arange(hit.size))
    starts = np.arange(len(frames)) * (hit.size + 1)
    boxes_so_far = (np.searchsorted(by_frame, starts[None, :] + at[:, None], "right")
                    - np.searchsorted(by_frame, starts, "left")[None, :])
    table = HitTable(frame, hit, np.array([len(f.boxes) for f in frames], dtype=np.int64),
                     np.cumsum(one_hot, axis=0), boxes_so_far.astype(np.float64))
    return np.array(rows, dtype=np.int64).reshape(-1, len(COUNTS)), table


def mask_counts(frames: Sequence[Frame], preds: Sequence[Sequence[Box]], threshold: float,
                cover: float = DEFAULT_COVER, distance: float = DEFAULT_DISTANCE) -> np.ndarray | None:
    """(frames, COUNTS) at ``threshold``; None unless every frame has a mask."""
    scored = score_masks(frames, preds, threshold, cover, distance)
    return None if scored is None else scored[0]


def hit_table(frames: Sequence[Frame], preds: Sequence[Sequence[Box]], cover: float = DEFAULT_COVER,
              distance: float = DEFAULT_DISTANCE) -> HitTable | None:
    """The boxes of all scores matched to cracks by the hit rule, for ``hit_ap``; None unless every
    frame has a mask."""
    scored = score_masks(frames, preds, 1.0, cover, distance)
    return None if scored is None else scored[1]


def hit_ap(table: HitTable, sample: np.ndarray | None = None) -> float:
    """AP (101-point, as COCO) with the hit rule in place of IoU, on a multiset of frame positions:
    box-free, so a 1-px offset costs nothing; NaN without cracks."""
    weights = (np.ones(table.cracks.size, dtype=np.int64) if sample is None
               else np.bincount(sample, minlength=table.cracks.size))
    return float(hit_aps(table, weights[None, :])[0])


def hit_aps(table: HitTable, weights: np.ndarray) -> np.ndarray:
    """``hit_ap`` of many resamples at once, each given by how often it draws every frame (B, frames).

    A frame drawn w times repeats each of its boxes w times in a row (ties aside), so precision only
    rises within a run of copies of a hit: the envelope needs the precision at the end of each hit's
    run, from running counts weighted by the draws. A hit not drawn repeats the count of the run before
    it at no higher precision, so it changes nothing and every resample has the same columns.
    """
    draws = np.asarray(weights, dtype=np.float64)  # exact: counts far below 2**53
    n_cracks = (draws @ table.cracks).astype(np.int64)
    out = np.full(len(draws), np.nan)
    n_hits = table.hits_so_far.shape[0]
    if n_hits == 0:
        out[n_cracks > 0] = 0.0
        return out
    found = draws @ table.hits_so_far.T
    seen = draws @ table.boxes_so_far.T
    envelope = np.maximum.accumulate((found / (seen + np.spacing(1)))[:, ::-1], axis=1)[:, ::-1]
    need = np.maximum(hits_needed(np.maximum(n_cracks, 1)), 1)  # (B, recall points): hits to reach each
    # the first run reaching each count, all rows in one search: row b's counts offset by b * (top + 1)
    offset = (np.arange(len(draws)) * (int(found.max()) + int(need.max()) + 1))[:, None]
    first = np.searchsorted((found + offset).ravel(), (need + offset).ravel()).reshape(need.shape)
    first -= (np.arange(len(draws)) * n_hits)[:, None]
    precision = np.where(first < n_hits, np.take_along_axis(envelope, np.minimum(first, n_hits - 1), axis=1), 0.0)
    defined = n_cracks > 0
    out[defined] = precision[defined].mean(axis=1)
    return out


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
