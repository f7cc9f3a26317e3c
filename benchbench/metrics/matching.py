"""Step 1 of the COCO evaluation: the greedy matching of detections to ground truth, done once.

:func:`match` runs pycocotools' greedy matching for every (category, image, size range, IoU
threshold) and keeps, per detection, whether it is a true positive, a false positive or ignored, plus
per-image counts of non-ignored ground truth (:class:`MatchTables`): what ``prcurves`` accumulates for
any multiset of images without matching again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchbench.metrics.cocoparse import Detections, GroundTruth

# pycocotools' maxDets: the detections per (image, category) each recall counts; the last also bounds AP's.
MAX_DETS = (1, 10, 100)
# COCO's four area ranges, first on the tables' area axis (extra size ranges follow them).
AREA_LABELS = ("all", "small", "medium", "large")
AREA_RANGES = np.array([[0.0, 1e10], [0.0, 32.0**2], [32.0**2, 96.0**2], [96.0**2, 1e10]])
# How a size range measures a box: "area" is the gt's area field (w * h for detections), as pycocotools.
MEASURES = ("area", "short_side", "long_side")
COCO_RANGES = tuple(("area", float(lo), float(hi)) for lo, hi in AREA_RANGES)

# Bound on the elements of the (pairs, areas, thresholds, gts or dets) arrays of one matching block.
_MATCH_BLOCK_ELEMENTS = 1 << 22


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


def box_iou(dbox: np.ndarray, gbox: np.ndarray, crowd: np.ndarray) -> np.ndarray:
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


def padded(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranges [start, start + count) as rows of one table padded with 0, and which entries are real."""
    width = int(counts.max())
    offsets = np.arange(width)
    valid = offsets < counts[:, None]
    return np.where(valid, starts[:, None] + offsets, 0), valid


def multi_arange(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + c) for each (s, c)."""
    total = int(counts.sum())
    ends = np.cumsum(counts)
    return np.repeat(starts - (ends - counts), counts) + np.arange(total)


def _match_pairs(
    pairs: np.ndarray,
    det: Detections,
    d_start: np.ndarray,
    d_count: np.ndarray,
    gt: GroundTruth,
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
    di, dvalid = padded(d_start[pairs], d_count[pairs])
    gi, gvalid = padded(g_start[pairs], g_count[pairs])
    crowd = gt.crowd[gi]
    iou = box_iou(det.box[di], gt.box[gi], crowd)
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
    det: Detections, d_key: np.ndarray, gt: GroundTruth, g_start: np.ndarray, g_count: np.ndarray,
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
        e_gt = multi_arange(g_start[d_key[lo:hi]], counts)
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
    gt: GroundTruth,
    det: Detections,
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
    gt = GroundTruth(
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
    det = Detections(det.img[keep], det.cat[keep], det.box.take(keep, axis=0), det.score[keep])
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
