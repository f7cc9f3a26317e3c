"""Where the AP goes: a TIDE-style error breakdown computed from the evaluator's own match tables.

Error types follow TIDE (Bolya et al. 2020, dbolya/tide) for one class, at the AP's IoU
threshold ``pos`` (0.5) and the background threshold ``bg`` (0.1). Each false positive of the
COCO matching (area "all", maxDets 100) is, in this order:

* **background** when its image has no (non-crowd) ground truth;
* **localisation** when its best IoU with a ground truth lies in [bg, pos]: a better box would
  have found the crack — the 1-px offsets that ruin IoU 0.5 on 6-px-wide cracks land here;
* **duplicate** when it overlaps an already-matched ground truth by at least ``pos``;
* **background** when its best IoU is at most ``bg``;
* **other** otherwise (kept so the counts add up; TIDE's "Other").

A non-crowd ground truth nothing matched is **missed** unless a localisation error points at it.
ΔAP of a type is the AP gained when only that type is fixed, TIDE's oracle: duplicates and
background boxes are removed; of the localisation errors pointing at an unmatched crack the
highest-scoring one becomes a true positive and the rest are removed; missed cracks leave the
ground-truth count. Ignored detections (matched to crowd or outside the range) are not errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchbench.metrics.coco import CocoEval
from benchbench.metrics.matching import MatchTables, box_iou, padded
from benchbench.metrics.prcurves import pr_curve, sample_detections

ERROR_TYPES = ("localisation", "duplicate", "background", "missed", "other")
_LOC, _DUP, _BKG, _OTHER = 0, 1, 2, 3


def error_breakdown(ev: CocoEval, pos: float = 0.5, bg: float = 0.1) -> dict[str, Any]:
    """Counts and ΔAP per error type, plus the AP at ``pos`` they start from; see the module doc."""
    tables = ev.tables
    t = int(ev.iou_positions(pos)[0])
    counts = dict.fromkeys(ERROR_TYPES, 0)
    curves: dict[str, list[np.ndarray]] = {name: [] for name in ("ap", *ERROR_TYPES[:4])}
    per_image = np.zeros((tables.n_images, len(ERROR_TYPES)), dtype=np.int64)
    gt_image = np.repeat(np.tile(np.arange(tables.n_images), tables.n_categories), tables.gt_count.ravel())
    weights = np.ones(tables.n_images, dtype=np.int64)
    for k in range(tables.n_categories):
        n_gt = int(tables.npig[k, 0].sum())
        order = sample_detections(tables, k, np.arange(tables.n_images), weights)
        tp, fp = tables.tp[0, t][order], tables.fp[0, t][order]
        kind, target = _classify(tables, k, t, order[fp], pos, bg)
        missed = _missed(tables, k, t, target[kind == _LOC])
        for code, name in ((_LOC, "localisation"), (_DUP, "duplicate"), (_BKG, "background"), (_OTHER, "other")):
            counts[name] += int(np.sum(kind == code))
            np.add.at(per_image[:, ERROR_TYPES.index(name)], tables.img[order[fp][kind == code]], 1)
        counts["missed"] += int(missed.size)
        np.add.at(per_image[:, ERROR_TYPES.index("missed")], gt_image[missed], 1)
        if n_gt == 0:
            continue
        fp_pos = np.flatnonzero(fp)
        curves["ap"].append(pr_curve(tp, fp, n_gt)[0])
        for code, name in ((_DUP, "duplicate"), (_BKG, "background")):
            fixed = fp.copy()
            fixed[fp_pos[kind == code]] = False
            curves[name].append(pr_curve(tp, fixed, n_gt)[0])
        curves["localisation"].append(pr_curve(*_fix_localisation(tp, fp, fp_pos, kind, target, tables, k, t),
                                                n_gt)[0])
        curves["missed"].append(pr_curve(tp, fp, n_gt - int(missed.size))[0] if n_gt > missed.size
                                else np.zeros_like(curves["ap"][-1]))  # TIDE: AP 0 without gt
    ap = _mean(curves["ap"])
    delta = {name: (_mean(curves[name]) - ap if ap >= 0 else None) for name in ERROR_TYPES[:4]}
    return {"iou": pos, "background_iou": bg, "ap": ap if ap >= 0 else None, "counts": counts,
            "delta_ap": delta, "per_image": per_image}


def _mean(curves: list[np.ndarray]) -> float:
    return float(np.mean(np.concatenate(curves))) if curves else -1.0


def _classify(tables: MatchTables, k: int, t: int, dets: np.ndarray, pos: float, bg: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """Error code of each false-positive detection and the gt its best IoU points at (-1: none)."""
    kind = np.full(dets.size, _BKG)
    target = np.full(dets.size, -1)
    count = tables.gt_count[k, tables.img[dets]]
    has = count > 0
    if not has.any():
        return kind, target
    gi, valid = padded(tables.gt_start[k, tables.img[dets[has]]], count[has])
    regular = valid & ~tables.gt_ignore[0][gi]
    iou = box_iou(tables.det_box[dets[has]][:, None, :], tables.gt_box[gi], np.zeros(gi.shape, dtype=bool))[:, 0]
    iou = np.where(regular, iou, 0.0)
    best = iou.max(axis=1)
    used_best = np.where(tables.gt_matched[0, t][gi] & regular, iou, 0.0).max(axis=1)
    sub = np.full(best.size, _OTHER)
    sub[used_best >= pos] = _DUP
    sub[best <= bg] = _BKG
    sub[(best >= bg) & (best <= pos)] = _LOC
    sub[~regular.any(axis=1)] = _BKG  # only crowd gt in the image: TIDE's "no ground truth"
    kind[has] = sub
    target[has] = np.where(sub == _LOC, gi[np.arange(gi.shape[0]), iou.argmax(axis=1)], -1)
    return kind, target


def _missed(tables: MatchTables, k: int, t: int, loc_targets: np.ndarray) -> np.ndarray:
    """Unmatched non-crowd gt of category k that no localisation error points at."""
    # gt are stored by (category, image), so category k's form one block
    gts = int(tables.gt_start[k, 0]) + np.arange(int(tables.gt_count[k].sum())) if tables.n_images else np.zeros(0, int)
    free = gts[~tables.gt_ignore[0][gts] & ~tables.gt_matched[0, t][gts]]
    return np.setdiff1d(free, loc_targets)


def _fix_localisation(tp: np.ndarray, fp: np.ndarray, fp_pos: np.ndarray, kind: np.ndarray, target: np.ndarray,
                      tables: MatchTables, k: int, t: int) -> tuple[np.ndarray, np.ndarray]:
    """TIDE's oracle: the best-scoring error per unmatched crack becomes a hit, the others go."""
    tp, fp = tp.copy(), fp.copy()
    loc = np.flatnonzero(kind == _LOC)
    fp[fp_pos[loc]] = False
    # Detections are in descending score order, so the first error per target is its best.
    free = ~tables.gt_matched[0, t][target[loc]]
    _, first = np.unique(target[loc][free], return_index=True)
    tp[fp_pos[loc[free][first]]] = True
    return tp, fp


def worst_images(per_image: np.ndarray, image_ids: list[Any], n: int = 6) -> list[dict[str, Any]]:
    """The ``n`` images with most errors (ties: more missed first), with their counts per type."""
    total = per_image.sum(axis=1)
    order = np.lexsort((-per_image[:, ERROR_TYPES.index("missed")], -total))
    return [{"image_id": image_ids[i], **{name: int(per_image[i, j]) for j, name in enumerate(ERROR_TYPES)}}
            for i in order[:n] if total[i] > 0]
