"""COCO bbox evaluation that reproduces pycocotools' ``COCOeval(iouType="bbox")``.

The evaluation runs in two steps so that bootstrap resamples stay cheap:

* :func:`match` runs the greedy matching once for every (category, image, area
  range, IoU threshold) and keeps, per detection, whether it is a true
  positive, a false positive or ignored, plus per-image counts of non-ignored
  ground truth.
* :func:`accumulate` turns those tables into precision/recall arrays for any
  multiset of images (a bootstrap resample lists image positions with
  repetition), without matching again.

Semantics follow pycocotools 2.0 exactly, including its quirks: a gt whose
annotation ``id`` is 0 can be matched but never counts as a true positive
(pycocotools stores the matched gt id and tests it for truthiness), the
``ignore`` field of gt annotations is replaced by ``iscrowd``, and detections
whose category is not in the gt categories are dropped.
"""

from __future__ import annotations

import itertools
import json
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
DEFAULT_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
MAX_DETS = (1, 10, 100)
AREA_LABELS = ("all", "small", "medium", "large")
AREA_RANGES = np.array([[0.0, 1e10], [0.0, 32.0**2], [32.0**2, 96.0**2], [96.0**2, 1e10]])
# How a size range measures a box: "area" is the gt's area field (w * h for detections), as pycocotools.
MEASURES = ("area", "short_side", "long_side")
COCO_RANGES = tuple(("area", float(lo), float(hi)) for lo, hi in AREA_RANGES)

# name -> (is_ap, iou threshold or None for all, area index, maxDets index)
_STAT_SPECS: dict[str, tuple[bool, float | None, int, int]] = {
    "AP": (True, None, 0, 2),
    "AP50": (True, 0.5, 0, 2),
    "AP75": (True, 0.75, 0, 2),
    "APs": (True, None, 1, 2),
    "APm": (True, None, 2, 2),
    "APl": (True, None, 3, 2),
    "AR1": (False, None, 0, 0),
    "AR10": (False, None, 0, 1),
    "AR100": (False, None, 0, 2),
    "ARs": (False, None, 1, 2),
    "ARm": (False, None, 2, 2),
    "ARl": (False, None, 3, 2),
}

# Bound on the elements of the (pairs, areas, thresholds, gts or dets) arrays of one matching block.
_MATCH_BLOCK_ELEMENTS = 1 << 22


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class _GroundTruth:
    image_ids: list[Any]
    category_ids: list[Any]
    img: np.ndarray  # image position per gt
    cat: np.ndarray  # category position per gt
    box: np.ndarray  # (n, 4) x, y, w, h
    area: np.ndarray
    crowd: np.ndarray
    id_nonzero: np.ndarray


@dataclass(frozen=True)
class _Detections:
    img: np.ndarray
    cat: np.ndarray
    box: np.ndarray
    score: np.ndarray


def _index(ids: Sequence[Any]) -> dict[Any, int]:
    return {value: pos for pos, value in enumerate(ids)}


def _column(rows: Sequence[dict[str, Any]], key: str) -> list[Any]:
    return list(map(operator.itemgetter(key), rows))


def _positions(values: list[Any], ids: list[Any], index: dict[Any, int]) -> np.ndarray:
    """Position of each value among the sorted ``ids``; KeyError names the first unknown value.

    Integer ids (the usual case) are looked up by a binary search of the whole column, anything
    else by the dict, which finds what the binary search finds (1 == 1.0 == True hash alike).
    """
    column = np.array(values) if values else np.zeros(0, np.int64)
    sorted_ids = np.array(ids) if ids else np.zeros(0, np.int64)
    if column.dtype.kind in "iu" and sorted_ids.dtype.kind in "iu":
        pos = np.minimum(np.searchsorted(sorted_ids, column), max(len(ids) - 1, 0))
        found = sorted_ids[pos] == column if len(ids) else np.zeros(column.size, bool)
        if found.all():
            return pos.astype(np.int64, copy=False)
        raise KeyError(values[int(np.argmin(found))])
    return np.fromiter(map(index.__getitem__, values), np.int64, len(values))


def _as_boxes(raw: list[Any], what: str) -> np.ndarray:
    try:
        if set(map(type, raw)) <= {list, tuple} and set(map(len, raw)) <= {4}:
            # Twice as fast as np.asarray on a list of lists, which probes every row's shape.
            box = np.fromiter(itertools.chain.from_iterable(raw), np.float64, 4 * len(raw)).reshape(-1, 4)
        else:
            box = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: every bbox must be 4 numbers [x, y, w, h]") from exc
    if len(raw) == 0:
        return np.zeros((0, 4))
    if box.ndim != 2 or box.shape[1] != 4:
        raise ValueError(f"{what}: every bbox must be 4 numbers [x, y, w, h]")
    if not np.isfinite(box).all():
        raise ValueError(f"{what}: every bbox must hold finite numbers")
    return box


def _parse_gt(gt: dict[str, Any]) -> _GroundTruth:
    try:
        image_ids = sorted({im["id"] for im in gt["images"]})
        category_ids = sorted({c["id"] for c in gt.get("categories", [])})
        img_pos, cat_pos = _index(image_ids), _index(category_ids)
        # pycocotools only evaluates annotations of listed images and categories.
        anns = [a for a in gt["annotations"] if a["image_id"] in img_pos and a["category_id"] in cat_pos]
        box = _as_boxes(_column(anns, "bbox"), "ground truth")
        area = np.array([a.get("area", math.nan) for a in anns], dtype=np.float64)
        crowd = np.fromiter((bool(a.get("iscrowd", 0)) for a in anns), bool, len(anns))
        # pycocotools records a match as the gt id and then tests it for truthiness.
        id_nonzero = np.fromiter((bool(a.get("id", 1)) for a in anns), bool, len(anns))
        img = _positions(_column(anns, "image_id"), image_ids, img_pos)
        cat = _positions(_column(anns, "category_id"), category_ids, cat_pos)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"ground truth: malformed COCO dict ({exc!r})") from exc
    missing = np.isnan(area)
    area[missing] = box[missing, 2] * box[missing, 3]
    return _GroundTruth(image_ids, category_ids, img, cat, box, area, crowd, id_nonzero)


def _parse_dt(dt: Sequence[dict[str, Any]], gt: _GroundTruth) -> _Detections:
    img_pos, cat_pos = _index(gt.image_ids), _index(gt.category_ids)
    try:
        image_ids = _column(dt, "image_id")
        try:
            img = _positions(image_ids, gt.image_ids, img_pos)
        except KeyError:
            unknown = set(image_ids) - img_pos.keys()
            example = sorted(map(repr, unknown))[:3]
            raise ValueError(f"predictions refer to image ids not in the ground truth: {', '.join(example)}") from None
        category_ids = _column(dt, "category_id")
        present = set(category_ids)
        if not present <= cat_pos.keys():  # pycocotools drops them
            kept = [i for i, c in enumerate(category_ids) if c in cat_pos]
            dt, img, category_ids = [dt[i] for i in kept], img[kept], [category_ids[i] for i in kept]
            present &= cat_pos.keys()
        box = _as_boxes(_column(dt, "bbox"), "predictions")
        score = np.fromiter(map(operator.itemgetter("score"), dt), np.float64, len(dt))
        if len(present) == 1:  # one category (the usual case): no lookup per detection
            cat = np.full(len(dt), cat_pos[present.pop()], dtype=np.int64)
        else:
            cat = _positions(category_ids, gt.category_ids, cat_pos)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"predictions: each entry needs image_id, category_id, bbox and score ({exc!r})") from exc
    if score.shape != (len(dt),) or not np.isfinite(score).all():
        raise ValueError("predictions: every score must be a finite number")
    return _Detections(img, cat, box, score)


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class MatchTables:
    """Per-detection outcomes of the matching step, reusable for any image multiset.

    Detections are stored by (category, score descending, image, rank): pycocotools' accumulation
    order over all images, so an evaluation of the whole set reads them in place. At most
    ``max(MAX_DETS)`` per (image, category) are kept, as pycocotools keeps.
    """

    iou_thresholds: np.ndarray  # (T,)
    ranges: tuple[tuple[str, float, float], ...]  # (A,) (measure, low, high): COCO's four, then any extra
    n_images: int
    n_categories: int
    score: np.ndarray  # (n,)
    img: np.ndarray  # (n,) image position
    rank: np.ndarray  # (n,) position within its (image, category) after sorting
    cat_start: np.ndarray  # (K + 1,) detections of category k are [cat_start[k], cat_start[k + 1])
    by_image: np.ndarray  # (n,) detection indices by (category, image, rank)
    has_ties: np.ndarray  # (K,) whether two detections of the category share a score
    tp: np.ndarray  # (A, T, n) bool
    fp: np.ndarray  # (A, T, n) bool
    det_start: np.ndarray  # (K, N) first position in by_image of each (category, image)
    det_count: np.ndarray  # (K, N)
    npig: np.ndarray  # (K, A, N) non-ignored gt per (category, image, area)
    det_box: np.ndarray  # (n, 4)
    gt_box: np.ndarray  # (g, 4) gt sorted by (category, image)
    gt_start: np.ndarray  # (K, N) first gt of each (category, image)
    gt_count: np.ndarray  # (K, N)
    gt_ignore: np.ndarray  # (A, g) crowd or outside the range
    gt_matched: np.ndarray  # (A, T, g) consumed by a detection (crowd gt never is)


def _corners(box: np.ndarray) -> tuple[np.ndarray, ...]:
    """x, y, x + w, y + h and w * h of (..., 4) boxes: the per-box terms of pycocotools' bbIou."""
    x, y, w, h = np.moveaxis(box, -1, 0)
    return x, y, x + w, y + h, w * h


def _iou(d: Sequence[np.ndarray], g: Sequence[np.ndarray], crowd: np.ndarray) -> np.ndarray:
    """IoU of detection and gt ``_corners`` (broadcasting), in pycocotools' operation order."""
    dx, dy, dx2, dy2, det_area = d
    gx, gy, gx2, gy2, gt_area = g
    w = np.minimum(dx2, gx2) - np.maximum(dx, gx)
    h = np.minimum(dy2, gy2) - np.maximum(dy, gy)
    inter = w * h
    # For crowd gt the union is the detection alone (maskApi.c bbIou).
    union = np.where(crowd, det_area, det_area + gt_area - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((w <= 0) | (h <= 0), 0.0, inter / union)


def _box_iou(dbox: np.ndarray, gbox: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU of (P, D, 4) against (P, G, 4) boxes, (P, D, G); crowd is (P, G)."""
    return _iou([c[:, :, None] for c in _corners(dbox)], [c[:, None, :] for c in _corners(gbox)], crowd[:, None, :])


def _greedy_match(
    iou: np.ndarray, gt_ignore: np.ndarray, crowd: np.ndarray, id_nonzero: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COCO greedy matching for P (image, category) pairs at once.

    iou: (P, D, G) with -inf for padding; gt_ignore: (P, A, G). Returns
    (matched to a gt with nonzero id, matched to an ignored gt), both (P, A, T, D),
    and which gts a detection consumed, (P, A, T, G).
    """
    n_pairs, n_dets, n_gts = iou.shape
    n_areas, n_thr = gt_ignore.shape[1], thresholds.size
    shape = (n_pairs, n_areas, n_thr, n_gts)
    regular = ~gt_ignore[:, :, None, :]
    consumable = ~crowd[:, None, None, :]
    nonzero = id_nonzero[:, None, None, :]
    gt_pos = np.arange(n_gts)
    thr = np.minimum(thresholds, 1 - 1e-10)[None, :, None]
    available = np.ones(shape, dtype=bool)
    matched_nz = np.zeros((n_pairs, n_areas, n_thr, n_dets), dtype=bool)
    matched_ig = np.zeros_like(matched_nz)
    for d in range(n_dets):
        row = iou[:, d, :]
        cand = available & (row[:, None, :] >= thr)[:, None, :, :]
        cand_regular = cand & regular
        has_regular = cand_regular.any(axis=-1)
        # A non-ignored gt always wins over an ignored one; within a pool the
        # last gt reaching the highest IoU wins (pycocotools compares with <).
        pool = np.where(has_regular[..., None], cand_regular, cand)
        has_match = pool.any(axis=-1)
        scores = np.where(pool, row[:, None, None, :], -np.inf)
        best = n_gts - 1 - np.argmax(scores[..., ::-1], axis=-1)
        hit = (gt_pos == best[..., None]) & has_match[..., None]
        available &= ~(hit & consumable)
        matched_nz[..., d] = (hit & nonzero).any(axis=-1)
        matched_ig[..., d] = has_match & ~has_regular
    return matched_nz, matched_ig, ~available


def _ceil_log2(values: np.ndarray) -> np.ndarray:
    return np.ceil(np.log2(np.maximum(values, 1))).astype(np.int64)


def _padded(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    width = int(counts.max())
    offsets = np.arange(width)
    valid = offsets < counts[:, None]
    return np.where(valid, starts[:, None] + offsets, 0), valid


def _match_pairs(
    pairs: np.ndarray,
    det: _Detections,
    d_start: np.ndarray,
    d_count: np.ndarray,
    gt: _GroundTruth,
    g_start: np.ndarray,
    g_count: np.ndarray,
    gt_ignore: np.ndarray,
    thresholds: np.ndarray,
    outside: np.ndarray,
    stored: np.ndarray,
    out: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """Match a batch of (category, image) pairs; write their detections (at ``stored`` positions) and
    gts into the (tp, fp, gt_matched) outputs."""
    di, dvalid = _padded(d_start[pairs], d_count[pairs])
    gi, gvalid = _padded(g_start[pairs], g_count[pairs])
    crowd = gt.crowd[gi]
    iou = _box_iou(det.box[di], gt.box[gi], crowd)
    iou[~dvalid] = -np.inf
    iou[np.broadcast_to(~gvalid[:, None, :], iou.shape)] = -np.inf
    # A detection below the lowest threshold against every gt neither matches
    # nor blocks a gt, so the sequential loop only needs the others.
    relevant = (iou >= _lowest_threshold(thresholds)).any(axis=-1)
    n_relevant = int(relevant.sum(axis=1).max())
    if n_relevant == 0:
        return
    order = np.argsort(~relevant, axis=1, kind="stable")[:, :n_relevant]
    iou = np.take_along_axis(iou, order[..., None], axis=1)
    di, dvalid = np.take_along_axis(di, order, axis=1), np.take_along_axis(relevant, order, axis=1)
    ignore = np.moveaxis(gt_ignore[:, gi], 0, 1)
    nz, ig, used = _greedy_match(iou, ignore, crowd, gt.id_nonzero[gi], thresholds)
    rows = di[dvalid]
    tp, fp, gt_matched = out
    nz, ig = np.moveaxis(nz, 0, 2)[:, :, dvalid], np.moveaxis(ig, 0, 2)[:, :, dvalid]
    tp[:, :, stored[rows]] = nz & ~ig
    fp[:, :, stored[rows]] = ~(nz | ig | outside[:, None, rows])
    gt_matched[:, :, gi[gvalid]] = np.moveaxis(used, 0, 2)[:, :, gvalid]


def _lowest_threshold(thresholds: np.ndarray) -> float:
    # pycocotools compares against min(t, 1 - 1e-10), so IoU 1 matches at threshold 1.
    return float(min(thresholds.min(), 1 - 1e-10))


def _candidate_edges(
    det: _Detections, d_key: np.ndarray, gt: _GroundTruth, g_start: np.ndarray, g_count: np.ndarray,
    thresholds: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(detection, gt, IoU) of every same-(category, image) pair reaching the lowest threshold,
    by detection then gt; detections are taken in blocks so that no temporary outgrows a bound."""
    per_det = g_count[d_key]
    ends = np.cumsum(per_det)
    lowest = _lowest_threshold(thresholds)
    d_corners, g_corners = _corners(det.box), _corners(gt.box)
    out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    lo = 0
    while lo < d_key.size:
        hi = max(lo + 1, int(np.searchsorted(ends, (ends[lo] - per_det[lo]) + _MATCH_BLOCK_ELEMENTS, "right")))
        counts = per_det[lo:hi]
        e_det = np.repeat(np.arange(lo, hi), counts)
        e_gt = _multi_arange(g_start[d_key[lo:hi]], counts)
        # Most same-image pairs do not overlap along x: drop them before gathering the rest.
        dx, dx2 = d_corners[0].take(e_det), d_corners[2].take(e_det)
        gx, gx2 = g_corners[0].take(e_gt), g_corners[2].take(e_gt)
        overlap = np.flatnonzero(np.minimum(dx2, gx2) - np.maximum(dx, gx) > 0)
        e_det, e_gt = e_det[overlap], e_gt[overlap]
        iou = _iou([c.take(e_det) for c in d_corners], [c.take(e_gt) for c in g_corners], gt.crowd.take(e_gt))
        keep = iou >= lowest
        out.append((e_det[keep], e_gt[keep], iou[keep]))
        lo = hi
    if not out:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    e_det, e_gt, iou = (np.concatenate(parts) for parts in zip(*out, strict=True))
    return e_det, e_gt, iou


def _tangled_keys(e_det: np.ndarray, d_key: np.ndarray, n_keys: int) -> np.ndarray:
    """(category, image) keys where some detection reaches two gts: these need the sequential
    greedy matching, the others are matched for all at once by ``_match_single_candidates``."""
    tangled = np.zeros(n_keys, dtype=bool)
    tangled[d_key[np.flatnonzero(np.bincount(e_det, minlength=d_key.size) > 1)]] = True
    return tangled


def _match_single_candidates(
    e_det: np.ndarray, e_gt: np.ndarray, e_iou: np.ndarray, crowd: np.ndarray, thresholds: np.ndarray,
    taken: np.ndarray, det_gt: np.ndarray, gt_taken: np.ndarray,
) -> None:
    """The greedy matching where each detection reaches at most one gt (one edge), for all at once.

    Such a detection takes its gt if nothing took it before (crowd gt stay available), so a gt
    goes to its first detection in score order at each threshold, whatever gts are ignored: the
    area ranges only decide whether a match counts (non-ignored gt with nonzero id) or is ignored.
    Writes which detections match at each threshold (taken, (T, n)), the gt each reaches
    (det_gt) and which gts are consumed (gt_taken, (T, g)).
    """
    if e_det.size == 0:
        return
    order = np.argsort(e_gt, kind="stable")  # edges by gt, each gt's detections in score order
    e_det, e_gt, e_iou = e_det[order], e_gt[order], e_iou[order]
    reach = e_iou[None, :] >= np.minimum(thresholds, 1 - 1e-10)[:, None]  # (T, E)
    seen_before = np.cumsum(reach, axis=1, dtype=np.int32) - reach
    new_gt = np.r_[True, e_gt[1:] != e_gt[:-1]]
    group_start = np.flatnonzero(new_gt)
    first = reach & (seen_before == seen_before[:, group_start][:, np.cumsum(new_gt) - 1])
    on_crowd = crowd[e_gt]
    taken[:, e_det] = reach & (first | on_crowd)
    det_gt[e_det] = e_gt
    gt_taken[:, e_gt[group_start]] = np.logical_or.reduceat(first & ~on_crowd, group_start, axis=1)


def _outside(box: np.ndarray, area: np.ndarray, ranges: Sequence[tuple[str, float, float]]) -> np.ndarray:
    """(A, n): boxes whose size lies outside each range (bounds inclusive, as pycocotools)."""
    sizes = {"area": area, "short_side": np.minimum(box[:, 2], box[:, 3]),
             "long_side": np.maximum(box[:, 2], box[:, 3])}
    return np.stack([(sizes[m] < lo) | (sizes[m] > hi) for m, lo, hi in ranges])


def _descending_ranks(score: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense rank of each score, 0 for the highest, equal scores sharing one; and the number of ranks."""
    order = np.argsort(-score)
    ordered = score[order]
    ranks = np.empty(score.size, dtype=np.int64)
    ranks[order] = np.cumsum(np.r_[False, ordered[1:] != ordered[:-1]])
    return ranks, int(ranks.max(initial=-1)) + 1


def _stable_order(group: np.ndarray, n_groups: int, ranks: np.ndarray, n_ranks: int) -> np.ndarray:
    """Positions by (group, rank), ties in position order: ``np.lexsort((ranks, group))``, but as one
    argsort of a unique integer key (several times faster) when that key fits in 63 bits."""
    n = group.size
    if n_groups * max(n_ranks, 1) * max(n, 1) < 2**62:
        return np.argsort((group * n_ranks + ranks) * n + np.arange(n))
    return np.lexsort((ranks, group))


def match(
    gt: _GroundTruth,
    det: _Detections,
    iou_thresholds: np.ndarray,
    extra_ranges: Sequence[tuple[str, float, float]] = (),
) -> MatchTables:
    """Step 1: greedy matching of every (category, image), done once.

    ``extra_ranges`` (measure, low, high) follow COCO's four area ranges on the area axis; each
    range is matched on its own, exactly as pycocotools treats a custom ``areaRng``.
    """
    n_img, n_cat = len(gt.image_ids), len(gt.category_ids)
    n_keys = n_img * n_cat
    ranges = COCO_RANGES + tuple((m, float(lo), float(hi)) for m, lo, hi in extra_ranges)
    n_areas = len(ranges)

    g_key = gt.cat * n_img + gt.img
    g_order = np.argsort(g_key, kind="stable")
    gt = _GroundTruth(
        gt.image_ids,
        gt.category_ids,
        gt.img[g_order],
        gt.cat[g_order],
        gt.box[g_order],
        gt.area[g_order],
        gt.crowd[g_order],
        gt.id_nonzero[g_order],
    )
    g_key = g_key[g_order]
    g_start = np.searchsorted(g_key, np.arange(n_keys))
    g_count = np.bincount(g_key, minlength=n_keys)
    gt_ignore = gt.crowd[None, :] | _outside(gt.box, gt.area, ranges)

    d_key_all = det.cat * n_img + det.img
    score_rank, n_scores = _descending_ranks(det.score)
    d_order = _stable_order(d_key_all, n_keys, score_rank, n_scores)
    d_key_sorted = d_key_all[d_order]
    d_first = np.searchsorted(d_key_sorted, np.arange(n_keys))
    rank_all = np.arange(d_order.size) - d_first[d_key_sorted]
    keep = d_order[rank_all < MAX_DETS[-1]]
    det = _Detections(det.img[keep], det.cat[keep], det.box.take(keep, axis=0), det.score[keep])
    d_key, score_rank = d_key_all[keep], score_rank[keep]
    rank = rank_all[rank_all < MAX_DETS[-1]]
    d_start = np.searchsorted(d_key, np.arange(n_keys))
    d_count = np.bincount(d_key, minlength=n_keys)

    n_thr, n_det = iou_thresholds.size, d_key.size
    e_det, e_gt, e_iou = _candidate_edges(det, d_key, gt, g_start, g_count, iou_thresholds)
    tangled = _tangled_keys(e_det, d_key, n_keys)
    simple = ~tangled[d_key[e_det]]
    taken, det_gt = np.zeros((n_thr, n_det), dtype=bool), np.zeros(n_det, dtype=np.int64)
    gt_taken = np.zeros((n_thr, g_key.size), dtype=bool)
    _match_single_candidates(e_det[simple], e_gt[simple], e_iou[simple], gt.crowd, iou_thresholds,
                             taken, det_gt, gt_taken)
    # Outcomes per (area, threshold, detection): a match with a non-ignored gt of nonzero id is a
    # true positive; a match with an ignored gt, or no match outside the size range, is ignored.
    outside = _outside(det.box, det.box[:, 2] * det.box[:, 3], ranges)
    if g_key.size:
        ignore, nonzero = gt_ignore[:, det_gt], gt.id_nonzero[det_gt]
    else:
        ignore, nonzero = np.zeros((n_areas, n_det), dtype=bool), np.zeros(n_det, dtype=bool)
    # Stored order (see MatchTables): the per-detection inputs are reordered, not the (A, T, n) outputs.
    perm = _stable_order(det.cat, n_cat, score_rank, n_scores)
    stored = np.empty_like(perm)
    stored[perm] = np.arange(perm.size)
    taken, ignore, nonzero = taken.take(perm, axis=1), ignore.take(perm, axis=1), nonzero[perm]
    # Explicit C-order outputs: left to numpy, the layout would follow taken[:, perm]'s (detection
    # major), and every curve row read later would be a strided gather.
    tp = np.empty((n_areas, n_thr, n_det), dtype=bool)
    fp = np.empty_like(tp)
    np.logical_and(taken[None], (~ignore & nonzero)[:, None, :], out=tp)
    np.logical_and(taken[None], (ignore | nonzero)[:, None, :], out=fp)
    np.logical_not(np.logical_or(fp, outside[:, None, perm], out=fp), out=fp)  # in place: no (A, T, n) temporaries
    gt_matched = np.repeat(gt_taken[None], n_areas, axis=0)
    pairs = np.flatnonzero(tangled)
    bucket = _ceil_log2(d_count[pairs]) * 64 + _ceil_log2(g_count[pairs])
    if pairs.size and pairs.size * n_areas * n_thr * int(g_count[pairs].max()) * int(d_count[pairs].max()) <= (
            _MATCH_BLOCK_ELEMENTS):
        bucket[:] = 0  # few tangled pairs (the usual case): one padded batch beats several small ones
    for b in np.unique(bucket):
        members = pairs[bucket == b]
        width = n_areas * n_thr * max(int(g_count[members].max()), int(d_count[members].max()))
        step = max(1, _MATCH_BLOCK_ELEMENTS // width)
        for lo in range(0, members.size, step):
            _match_pairs(members[lo : lo + step], det, d_start, d_count, gt, g_start, g_count, gt_ignore,
                         iou_thresholds, outside, stored, (tp, fp, gt_matched))

    npig = np.stack([np.bincount(g_key[~gt_ignore[a]], minlength=n_keys) for a in range(n_areas)])
    cat_start = np.searchsorted(det.cat, np.arange(n_cat + 1))
    ranked, cat = score_rank[perm], det.cat[perm]
    tie = (ranked[1:] == ranked[:-1]) & (cat[1:] == cat[:-1])
    has_ties = np.bincount(cat[1:][tie], minlength=n_cat) > 0
    return MatchTables(
        iou_thresholds=iou_thresholds,
        ranges=ranges,
        n_images=n_img,
        n_categories=n_cat,
        score=det.score[perm],
        img=det.img[perm],
        rank=rank[perm],
        cat_start=cat_start,
        by_image=stored,
        has_ties=has_ties,
        tp=tp,
        fp=fp,
        det_start=d_start.reshape(n_cat, n_img),
        det_count=d_count.reshape(n_cat, n_img),
        npig=npig.reshape(n_areas, n_cat, n_img).transpose(1, 0, 2),
        det_box=det.box.take(perm, axis=0),
        gt_box=gt.box,
        gt_start=g_start.reshape(n_cat, n_img),
        gt_count=g_count.reshape(n_cat, n_img),
        gt_ignore=gt_ignore,
        gt_matched=gt_matched,
    )


# --------------------------------------------------------------------------- accumulation


def _multi_arange(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + c) for each (s, c)."""
    total = int(counts.sum())
    ends = np.cumsum(counts)
    return np.repeat(starts - (ends - counts), counts) + np.arange(total)


def _pr_curve(tp: np.ndarray, fp: np.ndarray, npig: int) -> tuple[np.ndarray, float]:
    """Interpolated precision at the 101 recall points, and final recall, of one curve."""
    precision, recall = _pr_curves(tp[None, :], fp[None, :], npig)
    return precision[0], float(recall[0])


_hits_table = np.zeros((0, RECALL_THRESHOLDS.size), dtype=np.int64)


def _hits_needed(npig: np.ndarray) -> np.ndarray:
    """Per gt count (> 0) and recall point, the least number of true positives k with k / npig >= r
    in float64: where pycocotools' searchsorted(recall, r, "left") lands, recall being k / npig.

    Read from a table of every count up to the largest seen (a bootstrap asks for many counts, each
    many times), extended by doubling; element by element the same operations as for one count.
    """
    global _hits_table
    npig = np.asarray(npig, dtype=np.int64)
    top = int(npig.max(initial=0))
    if top >= len(_hits_table):
        counts = np.arange(max(top + 1, 2 * len(_hits_table), 64))[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):  # row 0 is never read
            k = np.ceil(RECALL_THRESHOLDS * counts).astype(np.int64)
            for _ in range(2):  # the product may round either way by one
                k = np.where((k > 0) & ((k - 1) / counts >= RECALL_THRESHOLDS), k - 1, k)
                k = np.where(k / counts < RECALL_THRESHOLDS, k + 1, k)
        _hits_table = k
    return _hits_table[npig]


def _pr_curves(tp: np.ndarray, fp: np.ndarray, npig: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interpolated precision (T, 101) and final recall (T,) of several curves at once.

    tp / fp (T, n) flag the detections in score order, one row per curve (IoU threshold, area);
    ``npig``: the non-ignored gt count, one for all rows or one per row. Only true-positive
    positions are evaluated: recall rises only there and precision can only fall between them,
    so pycocotools' precision envelope and recall lookups over the full-length arrays land on
    exactly these values; recall point r reads the k-th true positive, k from ``_hits_needed``.
    One vectorised pass for all rows: the rows' true positives sit left-aligned in a (T, max)
    table whose zero padding cannot raise a running maximum of precisions.
    """
    n_rows, n = tp.shape
    per_row = np.full(n_rows, npig, dtype=np.int64) if np.ndim(npig) == 0 else np.asarray(npig, dtype=np.int64)
    hits = np.flatnonzero(tp)  # flat positions, row by row
    if hits.size == 0:
        return np.zeros((n_rows, RECALL_THRESHOLDS.size)), np.zeros(n_rows)
    rows = hits // n
    # False positives before each hit. Few hits among many detections (a large set): sums between
    # consecutive hits (reduceat reads a[i] for an empty [i, i), a hit, so no false positive),
    # accumulated, less the earlier rows'; several times faster there than a running count of
    # every (row, detection), which wins on small sets.
    flags = np.ascontiguousarray(fp).view(np.uint8).ravel()
    if flags.size > 16 * hits.size:
        between = np.add.reduceat(flags, np.r_[0, hits], dtype=np.int64)[:-1]
        row_fp = np.count_nonzero(fp, axis=1)
        fp_sum = np.cumsum(between) - (np.cumsum(row_fp) - row_fp)[rows]
    else:
        running = np.cumsum(flags, dtype=np.int64)
        fp_sum = running[hits] - np.r_[0, running][rows * n]
    n_tp = np.bincount(rows, minlength=n_rows)
    rank = np.arange(rows.size) - (np.cumsum(n_tp) - n_tp)[rows]
    tp_sum = (rank + 1).astype(np.float64)
    # One zero column past every row's hits: the envelope is 0 there, which is what a recall
    # point beyond the row's final recall reads (pycocotools leaves it 0).
    table = np.zeros((n_rows, int(n_tp.max()) + 1))
    table[rows, rank] = tp_sum / (fp_sum + tp_sum + np.spacing(1))
    envelope = np.maximum.accumulate(table[:, ::-1], axis=1)[:, ::-1]
    k = np.maximum(_hits_needed(per_row), 1)  # recall 0 reads the first hit
    precision = np.take_along_axis(envelope, np.minimum(k - 1, table.shape[1] - 1), axis=1)
    return precision, n_tp / per_row


def _sample_detections(tables: MatchTables, k: int, sample: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Detections of category k over the sample, in pycocotools' accumulation order."""
    block = np.arange(tables.cat_start[k], tables.cat_start[k + 1])
    if not tables.has_ties[k]:
        # Without score ties the order is fully set by score, so repeating
        # each detection by its image's multiplicity needs no sort.
        return np.repeat(block, weights[tables.img[block]])
    dets = tables.by_image[_multi_arange(tables.det_start[k, sample], tables.det_count[k, sample])]
    # Stable sort: ties keep sample order, then in-image order, as pycocotools.
    return dets[np.argsort(-tables.score[dets], kind="mergesort")]


def accumulate(
    tables: MatchTables,
    sample: np.ndarray | None = None,
    thr_idx: Sequence[int] | None = None,
    area_idx: Sequence[int] = (0, 1, 2, 3),
    maxdet_idx: Sequence[int] = (0, 1, 2),
) -> tuple[np.ndarray, np.ndarray]:
    """Step 2: precision (T, R, K, A, M) and recall (T, K, A, M) for a multiset of images.

    ``sample`` lists image positions; a repeated position counts that image
    again, exactly as if it were a copy under a new id placed at that point of
    the image order (the order only matters for breaking score ties). Entries
    stay -1 where pycocotools leaves them -1 (no non-ignored gt).
    """
    whole = sample is None
    sample = np.arange(tables.n_images) if sample is None else _check_sample(sample, tables.n_images)
    weights = np.bincount(sample, minlength=tables.n_images)
    thr = np.arange(tables.iou_thresholds.size) if thr_idx is None else np.asarray(thr_idx, dtype=np.int64)
    n_k, areas = tables.n_categories, np.asarray(area_idx, dtype=np.int64)
    precision = -np.ones((thr.size, RECALL_THRESHOLDS.size, n_k, areas.size, len(maxdet_idx)))
    recall = -np.ones((thr.size, n_k, areas.size, len(maxdet_idx)))
    for k in range(n_k):
        npig = (tables.npig[k] @ weights)[areas]
        live = np.flatnonzero(npig)
        if live.size == 0:
            continue
        block = slice(tables.cat_start[k], tables.cat_start[k + 1])
        dets = np.arange(block.start, block.stop) if whole else _sample_detections(tables, k, sample, weights)
        ranks = tables.rank[dets]
        # Every (area, threshold) curve of one maxDets in one pass.
        tp_rows, fp_rows = _curve_rows(tables, areas[live], thr)
        for m, mi in enumerate(maxdet_idx):
            if whole and MAX_DETS[mi] >= MAX_DETS[-1]:  # stored in accumulation order: no gather
                tp, fp = tp_rows[:, block], fp_rows[:, block]
            else:
                limited = dets if MAX_DETS[mi] >= MAX_DETS[-1] else dets[ranks < MAX_DETS[mi]]
                tp, fp = tp_rows.take(limited, axis=1), fp_rows.take(limited, axis=1)
            p, r = _pr_curves(tp, fp, np.repeat(npig[live], thr.size))
            precision[:, :, k, live, m] = p.reshape(live.size, thr.size, -1).transpose(1, 2, 0)
            recall[:, k, live, m] = r.reshape(live.size, thr.size).T
    return precision, recall


def _curve_rows(tables: MatchTables, areas: np.ndarray, thr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """tp and fp of the (area, threshold) rows, (areas * thresholds, n): views where the rows are
    consecutive, as for every threshold of consecutive areas."""
    n_thr = tables.iou_thresholds.size
    rows = (areas[:, None] * n_thr + thr[None, :]).ravel()
    n_areas, _, n = tables.tp.shape
    tp, fp = (flags.reshape(n_areas * n_thr, n) for flags in (tables.tp, tables.fp))
    if rows.size and np.array_equal(rows, np.arange(rows[0], rows[0] + rows.size)):
        return tp[rows[0] : rows[0] + rows.size], fp[rows[0] : rows[0] + rows.size]
    return tp[rows], fp[rows]


def recall_at(
    tables: MatchTables, sample: np.ndarray | None, thr_idx: Sequence[int], area: int, maxdet_idx: Sequence[int]
) -> np.ndarray:
    """Recall (T, K, M) of one area, as ``accumulate`` gives it, without the precision curves: the
    share of non-ignored gt matched by the first maxDets detections of each image."""
    whole = sample is None
    sample = np.arange(tables.n_images) if sample is None else _check_sample(sample, tables.n_images)
    weights = np.bincount(sample, minlength=tables.n_images)
    thr = np.asarray(thr_idx, dtype=np.int64)
    recall = -np.ones((thr.size, tables.n_categories, len(maxdet_idx)))
    for k in range(tables.n_categories):
        npig = int(tables.npig[k, area] @ weights)
        if npig == 0:
            continue
        block = slice(tables.cat_start[k], tables.cat_start[k + 1])
        tp, ranks, copies = tables.tp[area][thr, block], tables.rank[block], weights[tables.img[block]]
        for m, mi in enumerate(maxdet_idx):
            kept = ranks < MAX_DETS[mi]
            hits = np.count_nonzero(tp[:, kept], axis=1) if whole else tp[:, kept] @ copies[kept]
            recall[:, k, m] = hits / npig
    return recall


def average_precisions(
    tables: MatchTables, sample: np.ndarray | None, specs: Sequence[tuple[Sequence[int], int]]
) -> np.ndarray:
    """AP (maxDets 100) for each spec (IoU threshold positions, area index) on one image multiset.

    The same numbers as ``accumulate`` followed by a mean over the defined precision, but the
    sample's detections are ordered once for every spec: a bootstrap asking for many APs per
    resample pays for that sort once. -1 where a spec has no non-ignored gt.
    """
    return ap_function(tables, specs)(sample)


def ap_function(
    tables: MatchTables, specs: Sequence[tuple[Sequence[int], int]]
) -> Callable[[np.ndarray | None], np.ndarray]:
    """``average_precisions`` for fixed specs, with each area's threshold rows gathered once."""
    pairs = list(dict.fromkeys((int(a), int(t)) for thr, a in specs for t in thr))  # every curve needed, once
    row_area = np.array([a for a, _ in pairs], dtype=np.int64)
    row_thr = np.array([t for _, t in pairs], dtype=np.int64)
    tp_rows, fp_rows = tables.tp[row_area, row_thr], tables.fp[row_area, row_thr]
    picks = [[pairs.index((int(a), int(t))) for t in thr] for thr, a in specs]
    same_width: dict[int, list[int]] = {}
    for s, rows in enumerate(picks):
        if rows:
            same_width.setdefault(len(rows), []).append(s)
    # (spec positions, (S, rows) curve positions) of the specs averaging as many curves
    batches = [(np.array(members), np.array([picks[s] for s in members])) for members in same_width.values()]

    def aps(sample: np.ndarray | None) -> np.ndarray:
        whole = sample is None
        sample = np.arange(tables.n_images) if sample is None else _check_sample(sample, tables.n_images)
        weights = np.bincount(sample, minlength=tables.n_images)
        curves: list[tuple[np.ndarray, np.ndarray]] = []  # (precision, gt count) per curve, each category with gt
        for k in range(tables.n_categories):
            npig = (tables.npig[k] @ weights)[row_area]
            live = np.flatnonzero(npig)
            if live.size == 0:
                continue
            dets = (np.arange(tables.cat_start[k], tables.cat_start[k + 1]) if whole
                    else _sample_detections(tables, k, sample, weights))
            tp, fp = tp_rows.take(dets, axis=1), fp_rows.take(dets, axis=1)
            if live.size < len(pairs):
                tp, fp = tp[live], fp[live]
            precision = np.full((len(pairs), RECALL_THRESHOLDS.size), np.nan)
            precision[live] = _pr_curves(tp, fp, npig[live])[0]
            curves.append((precision, npig))
        out = np.full(len(specs), -1.0)
        if len(curves) == 1:
            # One category (the usual case): the specs of a batch in one call; np.mean along the
            # rows of a C-contiguous array sums each row exactly as it sums the row alone.
            precision, npig = curves[0]
            for members, rows in batches:
                has_gt = npig[rows[:, 0]] > 0
                if has_gt.any():
                    out[members[has_gt]] = precision[rows[has_gt]].reshape(int(has_gt.sum()), -1).mean(axis=1)
            return out
        # One mean over the concatenated curves sums in the order np.mean over accumulate's array does
        # (for one category; with several, the order differs by rounding only).
        for s, rows in enumerate(picks):
            parts = [precision[rows].ravel() for precision, npig in curves if rows and npig[rows[0]]]
            if parts:
                out[s] = float(np.mean(np.concatenate(parts)))
        return out

    return aps


def _check_sample(sample: np.ndarray | Sequence[int], n_images: int) -> np.ndarray:
    arr = np.asarray(sample)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError("sample must be a 1-D array of integer image positions")
    if arr.min() < 0 or arr.max() >= n_images:
        raise ValueError(f"sample positions must lie in [0, {n_images})")
    return arr.astype(np.int64, copy=False)


def _mean_defined(values: np.ndarray) -> float:
    defined = values[values > -1]
    return float(np.mean(defined)) if defined.size else -1.0


# --------------------------------------------------------------------------- public API


class CocoEval:
    """COCO bbox evaluation whose matching is done once and reused for any image sample."""

    def __init__(self, tables: MatchTables, image_ids: list[Any], range_names: Sequence[str] = ()) -> None:
        self._tables = tables
        self._image_ids = image_ids
        self._range_index = {name: len(AREA_LABELS) + i for i, name in enumerate(range_names)}

    @classmethod
    def from_coco(
        cls,
        gt: dict[str, Any],
        dt: Sequence[dict[str, Any]],
        iou_thresholds: Sequence[float] | None = None,
        size_ranges: dict[str, tuple[str, float, float]] | None = None,
    ) -> CocoEval:
        """Match a COCO gt dict against a COCO results list.

        ``size_ranges``: name -> (measure, low, high), evaluated besides COCO's area ranges;
        measure is one of ``MEASURES``.
        """
        thresholds = _check_thresholds(iou_thresholds)
        extra = dict(size_ranges or {})
        for name, (measure, lo, hi) in extra.items():
            if measure not in MEASURES or not lo <= hi:
                raise ValueError(f"size range {name!r}: need a measure in {MEASURES} and low <= high")
        parsed_gt = _parse_gt(gt)
        tables = match(parsed_gt, _parse_dt(dt, parsed_gt), thresholds, tuple(extra.values()))
        return cls(tables, parsed_gt.image_ids, tuple(extra))

    @property
    def tables(self) -> MatchTables:
        """The match tables, for analyses beyond the COCO stats (error breakdown, galleries)."""
        return self._tables

    def area_index(self, range_name: str | None) -> int:
        """Position of a size range on the tables' area axis; None is COCO's "all"."""
        if range_name is None:
            return 0
        if range_name not in self._range_index:
            raise ValueError(f"unknown size range {range_name!r}; have {', '.join(self._range_index) or 'none'}")
        return self._range_index[range_name]

    def iou_positions(self, iou: float | Sequence[float] | None) -> np.ndarray:
        """Threshold positions of one IoU (the equal one, else one within 1e-9), of several IoUs, or
        of all thresholds for None."""
        thresholds = self._tables.iou_thresholds
        if iou is None:
            return np.arange(thresholds.size)
        if not isinstance(iou, int | float):
            return np.concatenate([self.iou_positions(float(t)) for t in iou] or [np.zeros(0, np.int64)])
        close = np.flatnonzero(thresholds == iou)
        if close.size == 0:
            close = np.flatnonzero(np.isclose(thresholds, iou, rtol=0.0, atol=1e-9))
        if close.size == 0:
            available = ", ".join(f"{t:g}" for t in thresholds)
            raise ValueError(f"IoU threshold {iou:g} is not configured; available: {available}")
        return close[:1]

    def aps(self, specs: Sequence[tuple[float | Sequence[float] | None, str | None]],
            sample: np.ndarray | None = None) -> np.ndarray:
        """AP for each (IoU, IoUs to average over, or None for all thresholds; size range or None for all)."""
        return self.ap_function(specs)(sample)

    def ap_function(
        self, specs: Sequence[tuple[float | Sequence[float] | None, str | None]]
    ) -> Callable[[np.ndarray | None], np.ndarray]:
        """``aps`` with the specs resolved once: what a bootstrap calls for every resample."""
        resolved = [(self.iou_positions(iou), self.area_index(r)) for iou, r in specs]
        return ap_function(self._tables, resolved)

    @property
    def image_ids(self) -> list[Any]:
        """Image ids in evaluation order (sorted); sample positions index this list."""
        return list(self._image_ids)

    @property
    def iou_thresholds(self) -> np.ndarray:
        return self._tables.iou_thresholds.copy()

    def stats(self, sample: np.ndarray | None = None) -> dict[str, float]:
        """The 12 COCO summary stats for all images, or for a sample of image positions."""
        every = np.arange(self._tables.iou_thresholds.size)
        # AR1 and AR10 need no precision curves: only maxDets 100 is accumulated in full.
        precision, recall = accumulate(self._tables, sample, every, (0, 1, 2, 3), (2,))
        few = recall_at(self._tables, sample, every, 0, (0, 1))
        out = {}
        for name in STAT_NAMES:
            is_ap, iou, area, maxdet = _STAT_SPECS[name]
            thr = self._thr_positions(iou)
            if is_ap:
                values = precision[thr][:, :, :, area, 0]
            else:
                values = recall[thr][:, :, area, 0] if maxdet == 2 else few[thr][:, :, maxdet]
            out[name] = _mean_defined(values)
        return out

    def stat(self, name: str, sample: np.ndarray | None = None) -> float:
        """One summary stat, accumulating only the slice it needs (fast for bootstraps)."""
        if name not in _STAT_SPECS:
            raise ValueError(f"unknown stat {name!r}; expected one of {', '.join(STAT_NAMES)}")
        is_ap, iou, area, maxdet = _STAT_SPECS[name]
        thr = self._thr_positions(iou)
        if thr.size == 0:
            return -1.0
        if not is_ap:
            return _mean_defined(recall_at(self._tables, sample, thr, area, (maxdet,)))
        precision, _ = accumulate(self._tables, sample, thr, (area,), (maxdet,))
        return _mean_defined(precision)

    def ap_at(self, iou: float, sample: np.ndarray | None = None) -> float:
        """AP at one configured IoU threshold (area all, maxDets 100); -1 without gt."""
        precision, _ = accumulate(self._tables, sample, self.iou_positions(iou), (0,), (2,))
        return _mean_defined(precision)

    def pr_curve(self, iou: float) -> np.ndarray:
        """Interpolated precision at the 101 recall points (area all, maxDets 100), mean over the
        categories with gt; all -1 without gt."""
        precision, _ = accumulate(self._tables, None, self.iou_positions(iou), (0,), (2,))
        curves = precision[0, :, :, 0, 0]
        defined = curves[:, (curves > -1).all(axis=0)]
        return defined.mean(axis=1) if defined.size else -np.ones(RECALL_THRESHOLDS.size)

    def _thr_positions(self, iou: float | None) -> np.ndarray:
        thresholds = self._tables.iou_thresholds
        # Exact equality, as pycocotools' summarize() uses.
        return np.arange(thresholds.size) if iou is None else np.flatnonzero(thresholds == iou)


def evaluate(
    gt: dict[str, Any], dt: Sequence[dict[str, Any]], iou_thresholds: Sequence[float] | None = None
) -> dict[str, float]:
    """The 12 COCO bbox stats of ``dt`` against ``gt``, as pycocotools computes them."""
    return CocoEval.from_coco(gt, dt, iou_thresholds).stats()


def _check_thresholds(iou_thresholds: Sequence[float] | None) -> np.ndarray:
    if iou_thresholds is None:
        return DEFAULT_IOU_THRESHOLDS.copy()
    thresholds = np.asarray(iou_thresholds, dtype=np.float64)
    if thresholds.ndim != 1 or thresholds.size == 0:
        raise ValueError("iou_thresholds must be a non-empty list of numbers")
    if not np.all((thresholds > 0) & (thresholds <= 1)):
        raise ValueError(f"iou_thresholds must lie in (0, 1], got {thresholds.tolist()}")
    return thresholds


# --------------------------------------------------------------------------- file loading


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _bbox_problem(bbox: Any) -> str | None:
    if not isinstance(bbox, list | tuple) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
        return f"bbox must be 4 finite numbers [x, y, w, h], got {_short(bbox)}"
    if bbox[2] < 0 or bbox[3] < 0:
        return f"bbox width and height must be >= 0, got {_short(bbox)}"
    return None


def detection_problem(det: dict[str, Any]) -> str | None:
    """What is wrong with one COCO detection's bbox and score, or None.

    The one rule for predictions: ``bench eval`` applies it to a results file, and a run to
    every box a detector returns, so a run never scores what ``bench eval`` refuses.
    """
    problem = _bbox_problem(det["bbox"])
    if problem:
        return problem
    score = det["score"]
    if not _is_number(score) or not 0.0 <= score <= 1.0:
        return f"score must be a finite number in [0, 1], got {_short(score)}"
    return None


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_json(path: str | Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (not UTF-8 text)") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from exc


def _require_list(data: dict[str, Any], key: str, path: str | Path) -> list[Any]:
    if key not in data:
        raise ValueError(f"{path}: missing key '{key}'")
    if not isinstance(data[key], list):
        raise ValueError(f"{path}: '{key}' must be a list, got {type(data[key]).__name__}")
    return data[key]


def _ids_of(entries: list[Any], key: str, path: str | Path) -> set[Any]:
    ids: set[Any] = set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "id" not in entry:
            raise ValueError(f"{path}: {key}[{i}] has no 'id'")
        if entry["id"] in ids:
            raise ValueError(f"{path}: {key}[{i}] repeats id {entry['id']!r}")
        ids.add(entry["id"])
    return ids


def _check_annotation(ann: Any, where: str, images: set[Any], categories: set[Any]) -> None:
    if not isinstance(ann, dict):
        raise ValueError(f"{where}: expected an object, got {type(ann).__name__}")
    for key in ("image_id", "category_id", "bbox"):
        if key not in ann:
            raise ValueError(f"{where}: missing key '{key}'")
    if ann["image_id"] not in images:
        raise ValueError(f"{where}: refers to unknown image id {ann['image_id']!r}")
    if ann["category_id"] not in categories:
        raise ValueError(f"{where}: refers to unknown category id {ann['category_id']!r}")
    problem = _bbox_problem(ann["bbox"])
    if problem:
        raise ValueError(f"{where}: {problem}")
    if "area" in ann and not _is_number(ann["area"]):
        raise ValueError(f"{where}: area must be a finite number, got {_short(ann['area'])}")


def load_coco_json(path: str | Path) -> dict[str, Any]:
    """Read and check a COCO ground-truth file; ValueError names the file and the problem."""
    data = _read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a COCO object with 'images', 'annotations', 'categories'")
    images = _ids_of(_require_list(data, "images", path), "images", path)
    annotations = _require_list(data, "annotations", path)
    categories = _ids_of(_require_list(data, "categories", path), "categories", path)
    for i, ann in enumerate(annotations):
        _check_annotation(ann, f"{path}: annotations[{i}]", images, categories)
    return data


def load_results_json(path: str | Path, gt: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Read and check a COCO results file; with ``gt``, ids must exist there too."""
    data = _read_json(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of detections, got {type(data).__name__}")
    images = {im["id"] for im in gt["images"]} if gt is not None else None
    categories = {c["id"] for c in gt.get("categories", [])} if gt is not None else None
    for i, det in enumerate(data):
        where = f"{path}: prediction {i}"
        if not isinstance(det, dict):
            raise ValueError(f"{where}: expected an object, got {type(det).__name__}")
        for key in ("image_id", "category_id", "bbox", "score"):
            if key not in det:
                raise ValueError(f"{where}: missing key '{key}'")
        if images is not None and det["image_id"] not in images:
            raise ValueError(f"{where}: refers to unknown image id {det['image_id']!r}")
        if categories is not None and det["category_id"] not in categories:
            raise ValueError(f"{where}: refers to unknown category id {det['category_id']!r}")
        problem = detection_problem(det)
        if problem:
            raise ValueError(f"{where}: {problem}")
    return data
