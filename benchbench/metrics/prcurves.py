"""Step 2 of the COCO evaluation: precision/recall curves from the match tables, for any image multiset.

A bootstrap resample lists image positions with repetition; :func:`accumulate` and :func:`ap_function`
read the :class:`~benchbench.metrics.matching.MatchTables` for it without matching again, with
pycocotools' accumulation order and its 101 recall points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from benchbench.metrics.matching import MAX_DETS, MatchTables, multi_arange

RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)


def pr_curve(tp: np.ndarray, fp: np.ndarray, npig: int) -> tuple[np.ndarray, float]:
    """Interpolated precision at the 101 recall points, and final recall, of one curve."""
    precision, recall = pr_curves(tp[None, :], fp[None, :], npig)
    return precision[0], float(recall[0])


_hits_table = np.zeros((0, RECALL_THRESHOLDS.size), dtype=np.int64)


def hits_needed(npig: np.ndarray) -> np.ndarray:
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


def pr_curves(tp: np.ndarray, fp: np.ndarray, npig: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interpolated precision (T, 101) and final recall (T,) of several curves at once.

    tp / fp (T, n) flag the detections in score order, one row per curve (IoU threshold, area);
    ``npig``: the non-ignored gt count, one for all rows or one per row. Only true-positive
    positions are evaluated: recall rises only there and precision can only fall between them,
    so pycocotools' precision envelope and recall lookups over the full-length arrays land on
    exactly these values; recall point r reads the k-th true positive, k from ``hits_needed``.
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
    k = np.maximum(hits_needed(per_row), 1)  # recall 0 reads the first hit
    precision = np.take_along_axis(envelope, np.minimum(k - 1, table.shape[1] - 1), axis=1)
    return precision, n_tp / per_row


def sample_detections(tables: MatchTables, k: int, sample: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Detections of category k over the sample, in pycocotools' accumulation order."""
    block = np.arange(tables.cat_start[k], tables.cat_start[k + 1])
    if not tables.has_ties[k]:
        # Without score ties the order is fully set by score, so repeating
        # each detection by its image's multiplicity needs no sort.
        return np.repeat(block, weights[tables.img[block]])
    dets = tables.by_image[multi_arange(tables.det_start[k, sample], tables.det_count[k, sample])]
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
        dets = np.arange(block.start, block.stop) if whole else sample_detections(tables, k, sample, weights)
        ranks = tables.rank[dets]
        # Every (area, threshold) curve of one maxDets in one pass.
        tp_rows, fp_rows = _curve_rows(tables, areas[live], thr)
        for m, mi in enumerate(maxdet_idx):
            if whole and MAX_DETS[mi] >= MAX_DETS[-1]:  # stored in accumulation order: no gather
                tp, fp = tp_rows[:, block], fp_rows[:, block]
            else:
                limited = dets if MAX_DETS[mi] >= MAX_DETS[-1] else dets[ranks < MAX_DETS[mi]]
                tp, fp = tp_rows.take(limited, axis=1), fp_rows.take(limited, axis=1)
            p, r = pr_curves(tp, fp, np.repeat(npig[live], thr.size))
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
                    else sample_detections(tables, k, sample, weights))
            tp, fp = tp_rows.take(dets, axis=1), fp_rows.take(dets, axis=1)
            if live.size < len(pairs):
                tp, fp = tp[live], fp[live]
            precision = np.full((len(pairs), RECALL_THRESHOLDS.size), np.nan)
            precision[live] = pr_curves(tp, fp, npig[live])[0]
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
