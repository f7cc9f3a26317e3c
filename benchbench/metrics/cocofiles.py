"""COCO files on disk: a ground-truth file and a results file read and checked, one rule for a detection.

Every problem is a ValueError that names the file and the entry, so ``bench eval`` can say it in one line.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


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
