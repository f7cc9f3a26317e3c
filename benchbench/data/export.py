"""Exporters shared by every detector plugin (through ``benchbench.api``): YOLO folders and COCO json.

One class, ``crack`` (YOLO class 0, COCO category 1). Frames with files are hard-linked (or copied)
as they are; frames held in memory are written as PNG (lossless, deterministic bytes).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.data.provenance import EXPORT_MANIFEST, MASKS_DIR, exported_mask, pixel_sha256
from benchbench.errors import UserError
from benchbench.frames import Frame, FrameSet
from benchbench.hashing import file_sha256

CATEGORY = {"id": 1, "name": "crack", "supercategory": "defect"}


def _unknown_boxes_error(frame: Frame, what: str) -> UserError:
    return UserError(f"frame {frame.stem} is a crack frame with unknown boxes: cannot {what}",
                     file=frame.path,
                     fix="use a layout with boxes (yolo, coco, masks) or label the synthetic frames (labeler: teacher)")


def unique_names(frames: FrameSet) -> list[str]:
    """A file name per frame whose stem is unique in the set, whatever the extension: YOLO labels and exported
    masks are named by it (the stem keeps the group visible; clashes get -2, -3...)."""
    names: list[str] = []
    used: set[str] = set()
    for f in frames:
        ext = f.path.suffix.lower() if (f.path is not None and f.image is None) else ".png"
        stem, k = f.stem, 1
        while stem.lower() in used:
            k += 1
            stem = f"{f.stem}-{k}"
        used.add(stem.lower())
        names.append(stem + ext)
    return names


def write_image(frame: Frame, dest: Path) -> None:
    """Link or copy the frame's file, or write its pixels as PNG."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() or dest.is_symlink():
        dest.unlink()
    if frame.path is not None and frame.image is None:
        try:
            os.link(frame.path, dest)  # no copy of the data set per cell when on the same file system
        except OSError:
            shutil.copyfile(frame.path, dest)
        return
    from PIL import Image  # PIL: heavy, off the start-up path

    Image.fromarray(frame.load()).save(dest, format="PNG")


def _yolo_lines(frame: Frame) -> str:
    if frame.boxes is None:
        raise _unknown_boxes_error(frame, "write YOLO labels")
    lines = []
    for b in frame.boxes:
        x1, y1 = max(0.0, b.x), max(0.0, b.y)
        x2, y2 = min(float(frame.width), b.x + b.w), min(float(frame.height), b.y + b.h)
        if x2 <= x1 or y2 <= y1:
            continue
        cx, cy = (x1 + x2) / 2 / frame.width, (y1 + y2) / 2 / frame.height
        w, h = (x2 - x1) / frame.width, (y2 - y1) / frame.height
        lines.append(f"0 {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return "".join(line + "\n" for line in lines)


def _write_yolo_split(frames: FrameSet, root: Path, split: str) -> None:
    for f, name in zip(frames, unique_names(frames), strict=True):
        write_image(f, root / "images" / split / name)
        lab = (root / "labels" / split / name).with_suffix(".txt")
        lab.parent.mkdir(parents=True, exist_ok=True)
        lab.write_text(_yolo_lines(f))


def export_yolo(frames: FrameSet, out_dir: str | os.PathLike, *, val: FrameSet | None = None) -> Path:
    """Write ``images/{train,val}``, ``labels/{train,val}`` and ``data.yaml``; returns data.yaml.

    data.yaml has no ``path`` key: Ultralytics then resolves train/val against the yaml's folder,
    so the export can be moved, and the bytes do not depend on where it was written.
    """
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    _write_yolo_split(frames, root, "train")
    if val is not None:
        _write_yolo_split(val, root, "val")
    yaml = root / "data.yaml"
    yaml.write_text(
        "# written by benchbench.data.export\n"
        "train: images/train\n"
        f"val: images/{'val' if val is not None else 'train'}\n"
        "nc: 1\n"
        "names:\n"
        "  0: crack\n"
    )
    return yaml


def to_coco_dict(frames: FrameSet, *, file_names: list[str] | None = None) -> dict[str, Any]:
    """COCO gt: image ids 1..N in frame order, category 1 'crack', area = w*h, iscrowd 0."""
    names = file_names or [f.path.name if (f.path is not None and f.image is None) else f"{f.stem}.png"
                           for f in frames]
    images, anns = [], []
    for i, (f, name) in enumerate(zip(frames, names, strict=True), start=1):
        images.append({"id": i, "file_name": name, "width": int(f.width), "height": int(f.height)})
        if f.boxes is None:
            raise _unknown_boxes_error(f, "build COCO ground truth")
        for b in f.boxes:
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": CATEGORY["id"],
                         "bbox": [float(b.x), float(b.y), float(b.w), float(b.h)],
                         "area": float(b.w * b.h), "iscrowd": 0})
    return {"images": images, "annotations": anns, "categories": [dict(CATEGORY)]}



def test_ground_truth(test: FrameSet) -> dict[str, Any]:
    """A run's ``test_gt.json``: the test frames' COCO gt plus each frame's specimen group."""
    return to_coco_dict(test) | {"groups": [f.group for f in test]}

def export_coco(frames: FrameSet, out_path: str | os.PathLike, *,
                copy_images_to: str | os.PathLike | None = None) -> Path:
    """Write a COCO json; with ``copy_images_to`` the images go there and file_name is relative to the json."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if copy_images_to is not None:
        folder = Path(copy_images_to)
        names = unique_names(frames)
        rel = []
        for f, name in zip(frames, names, strict=True):
            write_image(f, folder / name)
            rel.append(os.path.relpath(folder / name, out.parent).replace(os.sep, "/"))
        data = to_coco_dict(frames, file_names=rel)
    else:
        # No copy: file_name points at the frames' own files (absolute), so the json is usable as is.
        names = [str(f.path.resolve()) if (f.path is not None and f.image is None) else f"{f.stem}.png"
                 for f in frames]
        data = to_coco_dict(frames, file_names=names)
    out.write_text(json.dumps(data, indent=1) + "\n")
    return out


def export_classes(frames: FrameSet, out_dir: str | os.PathLike, header: dict[str, Any]) -> Path:
    """Write ``out_dir/crack`` and ``out_dir/sane`` (the Classes layout generator training reads) and
    ``benchbench-export.json``: ``header`` plus each frame's class, specimen group and content hashes,
    which ``bench train`` copies into the weights' training manifest.

    A cracked frame with a crack mask (``masks`` layout, simulated frames) also gets
    ``out_dir/masks/<stem>.png``, same size as the frame, so that a trainer can weight the crack's
    pixels (``bench train sd-base --crack-weight``)."""
    from PIL import Image

    from benchbench.metrics.masks import frame_mask

    root = Path(out_dir)
    for label in ("crack", "sane", MASKS_DIR):  # a re-export must not keep frames of an earlier split
        shutil.rmtree(root / label, ignore_errors=True)
    records = []
    for frame, name in zip(frames, unique_names(frames), strict=True):
        dest = root / frame.label / name
        write_image(frame, dest)
        record = {"name": name, "label": frame.label, "group": frame.group, "sha256": file_sha256(dest),
                  "pixels": pixel_sha256(frame.load())}
        mask = frame_mask(frame) if frame.label == "crack" else None
        if mask is not None and mask.any():
            mask_file = exported_mask(root, name)
            mask_file.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask.astype(np.uint8) * 255).save(mask_file)
            record["mask"] = f"{MASKS_DIR}/{mask_file.name}"
        records.append(record)
    counts = {label: sum(r["label"] == label for r in records) for label in ("crack", "sane")}
    manifest = {**header, "counts": counts, "groups": sorted({r["group"] for r in records}), "frames": records}
    (root / EXPORT_MANIFEST).write_text(json.dumps(manifest, indent=1))
    return root
