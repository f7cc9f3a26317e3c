"""COCO dicts as arrays: a ground-truth dict and a results list turned into the columns matching reads.

Keeps pycocotools' reading of the input: only annotations of listed images and categories count, a
missing ``area`` is w * h, a gt ``id`` of 0 is remembered (it can match but never counts as a true
positive), and detections of a category the gt does not list are dropped.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class GroundTruth:
    """The gt annotations that count, as columns; images and categories by position in the sorted ids."""

    image_ids: list[Any]
    category_ids: list[Any]
    img: np.ndarray  # image position per gt
    cat: np.ndarray  # category position per gt
    box: np.ndarray  # (n, 4) x, y, w, h
    area: np.ndarray
    crowd: np.ndarray
    id_nonzero: np.ndarray


@dataclass(frozen=True)
class Detections:
    """The detections as columns, images and categories by their position in the ground truth's ids."""

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


def parse_gt(gt: dict[str, Any]) -> GroundTruth:
    """The columns of a COCO gt dict; ValueError when it is malformed."""
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
    return GroundTruth(image_ids, category_ids, img, cat, box, area, crowd, id_nonzero)


def parse_dt(dt: Sequence[dict[str, Any]], gt: GroundTruth) -> Detections:
    """The columns of a COCO results list against ``gt``; ValueError names what is wrong."""
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
    return Detections(img, cat, box, score)
