"""Dataset ``flyd``: FLYD frames from a local folder in one of four layouts.

* ``classes``: ``crack/`` and ``sane/`` folders of images (FLYD-Frames Classes archive). No boxes:
  crack frames get ``boxes=None`` (unknown), sane frames ``()``.
* ``yolo``: ``images/**`` + ``labels/**.txt`` with the same relative stem, class 0 = crack
  (FLYD-Frames YOLO archive; what ``export_yolo`` writes).
* ``coco``: a COCO json (the root itself, or ``annotations.json`` / the only ``*.json`` in it).
* ``masks``: FLYD-S, ``<split>/images/*`` + ``<split>/masks/*.png`` with the same stem; boxes are the
  mask's connected components, fragments closer than ``MERGE_GAP`` px merged into one box.

The group of a frame (the unit of a leakage-free split) is the first match of ``group_regex`` in its
file name (``Sample\\d+``: the specimen), or ``"default"``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.data.groups import DEFAULT_GROUP_REGEX, compile_group_regex, group_of
from benchbench.errors import UserError
from benchbench.frames import Box, Frame, FrameSet
from benchbench.hashing import file_sha256, sha256_json

VERSION = "1"
LAYOUTS = ("classes", "yolo", "coco", "masks")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
MERGE_GAP = 3  # px: mask fragments whose boxes are at most this far apart are one crack
MIN_COMPONENT_PIXELS = 2  # single stray mask pixels are annotation noise, not cracks
CRACK_DIRS = ("crack", "cracked", "positive")
SANE_DIRS = ("sane", "negative", "healthy")


# --------------------------------------------------------------------------- helpers
def is_image(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTS and p.is_file() and not p.name.startswith(".")


def list_images(folder: Path, recursive: bool = False) -> list[Path]:
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if is_image(p))


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the header only; UserError naming the file if unreadable."""
    from PIL import Image  # PIL: heavy, off the start-up path

    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError) as exc:
        raise UserError(f"unreadable image ({exc})", file=path, fix="re-export or remove the file") from None


def mask_boxes(mask: np.ndarray, gap: int = MERGE_GAP, min_pixels: int = MIN_COMPONENT_PIXELS) -> list[Box]:
    """Boxes of a crack mask: 8-connected components, fragments <= ``gap`` px apart merged.

    The merge rule: two boxes are one crack when the gap between them (the larger of the horizontal
    and vertical distance between their edges, 0 if they overlap) is at most ``gap`` pixels;
    merging repeats until no pair qualifies. Components under ``min_pixels`` pixels are dropped.
    """
    from scipy import ndimage as ndi  # scipy: heavy, off the start-up path

    lab, n = ndi.label(np.asarray(mask) > 0, structure=np.ones((3, 3), bool))
    if n == 0:
        return []
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    rects = [[s[1].start, s[0].start, s[1].stop, s[0].stop]
             for i, s in enumerate(ndi.find_objects(lab), start=1) if s is not None and sizes[i] >= min_pixels]
    merged = True
    while merged:
        merged = False
        for i in range(len(rects)):
            for j in range(i + 1, len(rects)):
                a, b = rects[i], rects[j]
                dx = max(b[0] - a[2], a[0] - b[2], 0)
                dy = max(b[1] - a[3], a[1] - b[3], 0)
                if max(dx, dy) <= gap:
                    rects[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    del rects[j]
                    merged = True
                    break
            if merged:
                break
    rects.sort(key=lambda r: (r[1], r[0]))
    return [Box.from_xyxy(*r) for r in rects]


def yolo_to_box(cx: float, cy: float, w: float, h: float, width: int, height: int) -> Box:
    """A normalised YOLO box to pixels, clipped to the image."""
    x1, y1 = max(0.0, (cx - w / 2) * width), max(0.0, (cy - h / 2) * height)
    x2, y2 = min(float(width), (cx + w / 2) * width), min(float(height), (cy + h / 2) * height)
    return Box.from_xyxy(x1, y1, x2, y2)


# --------------------------------------------------------------------------- layout detection
def classes_dirs(root: Path) -> tuple[Path | None, Path | None]:
    def find(names: Sequence[str]) -> Path | None:
        for d in sorted(root.iterdir()) if root.is_dir() else []:
            if d.is_dir() and d.name.lower() in names:
                return d
        return None

    return find(CRACK_DIRS), find(SANE_DIRS)


def find_coco_json(root: Path) -> Path | None:
    if root.is_file() and root.suffix.lower() == ".json":
        return root
    if not root.is_dir():
        return None
    for name in ("annotations.json", "instances.json", "coco.json"):
        if (root / name).is_file():
            return root / name
    cands = sorted(root.glob("*.json")) + sorted((root / "annotations").glob("*.json"))
    cands = [c for c in cands if c.name != "simulated.json"]
    return cands[0] if len(cands) == 1 else None


def masks_splits(root: Path) -> dict[str, Path]:
    """{split name: folder} for every folder holding images/ and masks/ (at most two levels down)."""
    out: dict[str, Path] = {}
    if not root.is_dir():
        return out
    cands = [root] + sorted(d for d in root.iterdir() if d.is_dir())
    cands += sorted(dd for d in cands[1:] for dd in d.iterdir() if dd.is_dir())
    for d in cands:
        if (d / "images").is_dir() and (d / "masks").is_dir():
            out.setdefault(d.name if d != root else "all", d)
    return out


def detect_layout(root: Path) -> str:
    if not root.exists():
        raise UserError("dataset root does not exist", file=root,
                        fix="point data.root at the unpacked dataset (e.g. `bench data fetch flyd-s`)")
    if root.is_file():
        if root.suffix.lower() == ".json":
            return "coco"
        raise UserError("dataset root is a file, not a folder or COCO json", file=root,
                        fix="give the dataset folder (or the COCO .json file)")
    crack, sane = classes_dirs(root)
    if crack or sane:
        return "classes"
    if (root / "images").is_dir() and (root / "labels").is_dir():
        return "yolo"
    if masks_splits(root):
        return "masks"
    if find_coco_json(root):
        return "coco"
    raise UserError("cannot tell the dataset layout", file=root,
                    fix="expected crack/+sane/ (classes), images/+labels/ (yolo), a COCO .json (coco) or "
                        "<split>/images+<split>/masks (masks); or set data.layout")


# --------------------------------------------------------------------------- readers
def read_classes(root: Path, regex: re.Pattern[str] | None) -> list[Frame]:
    crack, sane = classes_dirs(root)
    frames = []
    for folder, label in ((crack, "crack"), (sane, "sane")):
        if folder is None:
            continue
        for p in list_images(folder, recursive=True):
            w, h = image_size(p)
            frames.append(Frame(p, w, h, label, None if label == "crack" else (), group_of(p.name, regex)))
    return frames


def parse_yolo_line(line: str) -> tuple[int, float, float, float, float]:
    """class cx cy w h; ValueError with the reason otherwise (the checker reports it with the line)."""
    parts = line.split()
    if len(parts) != 5:
        raise ValueError(f"expected 5 fields 'class cx cy w h', got {len(parts)}")
    try:
        cls = int(float(parts[0]))
        if float(parts[0]) != cls:
            raise ValueError
    except ValueError:
        raise ValueError(f"class id {parts[0]!r} is not an integer") from None
    try:
        cx, cy, w, h = (float(v) for v in parts[1:])
    except ValueError:
        raise ValueError("coordinates are not numbers") from None
    if not all(np.isfinite(v) for v in (cx, cy, w, h)):
        raise ValueError("coordinates are not finite")
    return cls, cx, cy, w, h


def yolo_label_path(root: Path, image: Path) -> Path:
    rel = image.relative_to(root / "images")
    return (root / "labels" / rel).with_suffix(".txt")


def read_yolo(root: Path, regex: re.Pattern[str] | None) -> list[Frame]:
    frames = []
    for p in list_images(root / "images", recursive=True):
        w, h = image_size(p)
        lab = yolo_label_path(root, p)
        boxes: list[Box] = []
        if lab.is_file():
            for i, line in enumerate(lab.read_text().splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    cls, cx, cy, bw, bh = parse_yolo_line(line)
                except ValueError as exc:
                    raise UserError(f"line {i}: {exc}", file=lab,
                                    fix="run `bench data check` to list every problem") from None
                if cls != 0:
                    raise UserError(f"line {i}: unknown class id {cls} (only 0 = crack)", file=lab,
                                    fix="FLYD has one class: crack = 0")
                if bw > 0 and bh > 0:
                    boxes.append(yolo_to_box(cx, cy, bw, bh, w, h))
        frames.append(Frame(p, w, h, "crack" if boxes else "sane", tuple(boxes), group_of(p.name, regex)))
    return frames


def coco_image_path(json_path: Path, file_name: str) -> Path:
    """Where a COCO file_name points: next to the json, in images/ beside it, or beside its folder."""
    base = json_path.parent
    for cand in (base / file_name, base / "images" / file_name, base.parent / "images" / file_name,
                 base.parent / file_name):
        if cand.is_file():
            return cand
    return base / file_name


def coco_box_problem(bbox: Any) -> str | None:
    """What makes a COCO ground-truth bbox unusable, or None (the loader and `bench data check` agree)."""
    if not (isinstance(bbox, list) and len(bbox) == 4
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox)):
        return "bbox must be [x, y, w, h] numbers"
    if not all(math.isfinite(v) for v in bbox):
        return f"bbox must hold finite numbers, got {bbox}"
    if bbox[2] <= 0 or bbox[3] <= 0:
        return "box of zero area"
    return None


def clip_box(bbox: Sequence[float], width: int, height: int) -> tuple[float, ...] | None:
    """``bbox`` clipped to the image; None when nothing of it is inside."""
    x1, y1 = max(0.0, bbox[0]), max(0.0, bbox[1])
    x2, y2 = min(float(width), bbox[0] + bbox[2]), min(float(height), bbox[1] + bbox[3])
    if x2 <= x1 or y2 <= y1:
        return None
    if (x1, y1, x2, y2) == (bbox[0], bbox[1], bbox[0] + bbox[2], bbox[1] + bbox[3]):
        return tuple(bbox)
    return (x1, y1, x2 - x1, y2 - y1)


def read_coco(path: Path, regex: re.Pattern[str] | None) -> list[Frame]:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"line {exc.lineno}: invalid JSON ({exc.msg})", file=path, fix="repair the file") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise UserError("not a COCO file (no 'images' list)", file=path, fix="give a COCO detection json")
    if not isinstance(data.get("annotations"), list):
        raise UserError("not a COCO detection file (no 'annotations' list)", file=path,
                        fix="add \"annotations\": [] when no frame has a box")
    cats = {c.get("id"): c.get("name") for c in data.get("categories", []) if isinstance(c, dict)}
    by_image: dict = {}
    check = "run `bench data check` to list every problem"
    for a in data["annotations"]:
        if not isinstance(a, dict):
            raise UserError("an annotation is not an object", file=path, fix=check)
        if a.get("category_id") not in cats:  # any category counts as crack: FLYD has one class
            raise UserError(f"annotation {a.get('id')}: unknown category {a.get('category_id')}", file=path,
                            fix=check)
        problem = coco_box_problem(a.get("bbox"))
        if problem and problem != "box of zero area":  # zero-area boxes are skipped, as always
            raise UserError(f"annotation {a.get('id')}: {problem}", file=path, fix=check)
        by_image.setdefault(a.get("image_id"), []).append(a)
    frames = []
    for im in data["images"]:
        p = coco_image_path(path, str(im.get("file_name", "")))
        if not p.is_file():
            raise UserError(f"image {im.get('id')}: file {im.get('file_name')!r} not found", file=path,
                            fix="put the images next to the json or in images/")
        w, h = int(im.get("width") or 0), int(im.get("height") or 0)
        if not (w and h):
            w, h = image_size(p)
        kept: list[Box] = []
        for a in by_image.pop(im.get("id"), []):
            if coco_box_problem(a["bbox"]):
                continue
            clipped = clip_box(a["bbox"], w, h)
            if clipped is None:
                raise UserError(f"annotation {a.get('id')}: box lies outside the {w}x{h} image", file=path,
                                fix=check)
            kept.append(Box(*map(float, clipped)))
        boxes = tuple(kept)
        frames.append(Frame(p, w, h, "crack" if boxes else "sane", boxes, group_of(p.name, regex),
                            meta={"coco_id": im.get("id")}))
    if by_image:
        raise UserError(f"annotations point to missing image ids {sorted(map(str, by_image))[:5]}", file=path,
                        fix="run `bench data check` to list every problem")
    return frames


def mask_path(images_dir: Path, image: Path) -> Path | None:
    masks = images_dir.parent / "masks"
    for ext in (".png", ".PNG", image.suffix):
        cand = masks / (image.stem + ext)
        if cand.is_file():
            return cand
    return None


def read_masks(root: Path, regex: re.Pattern[str] | None, split: Iterable[str] | None) -> list[Frame]:
    from PIL import Image  # PIL: heavy, off the start-up path

    splits = masks_splits(root)
    if split is not None:
        wanted = list(split)
        missing = [s for s in wanted if s not in splits]
        if missing:
            raise UserError(f"split folder(s) {missing} not found (have {sorted(splits)})", file=root,
                            field="split", fix="list existing sub-folders, or leave split out for all")
        splits = {s: splits[s] for s in wanted}
    frames = []
    for name, folder in splits.items():
        for p in list_images(folder / "images"):
            mp = mask_path(folder / "images", p)
            if mp is None:
                raise UserError(f"no mask for image {p.name}", file=folder / "masks",
                                fix="add the mask (same stem, .png) or remove the image")
            w, h = image_size(p)
            try:
                with Image.open(mp) as im:
                    mask = np.asarray(im.convert("L"))
            except OSError as exc:
                raise UserError(f"unreadable mask ({exc})", file=mp, fix="re-export the mask") from None
            if mask.shape != (h, w):
                raise UserError(f"mask is {mask.shape[1]}x{mask.shape[0]} but image is {w}x{h}", file=mp,
                                fix="masks must have the image's size")
            boxes = tuple(mask_boxes(mask > 127))
            frames.append(Frame(p, w, h, "crack" if boxes else "sane", boxes, group_of(p.name, regex),
                                meta={"split": name, "mask": str(mp)}))
    return frames


# --------------------------------------------------------------------------- the dataset
class FlydDataset:
    """Dataset ``flyd``: real frames from ``root`` (layout classes | yolo | coco | masks | auto)."""

    name = "flyd"
    version = VERSION

    def __init__(self, root: str | os.PathLike, layout: str = "auto", group_regex: str | None = DEFAULT_GROUP_REGEX,
                 split: Sequence[str] | str | None = None):
        self.root = Path(root).expanduser()
        if layout not in LAYOUTS + ("auto",):
            raise UserError(f"unknown layout {layout!r}", field="data.layout",
                            fix="use one of " + ", ".join(LAYOUTS + ("auto",)))
        self.group_regex = group_regex
        self._regex = compile_group_regex(group_regex)
        self.split = [split] if isinstance(split, str) else (list(split) if split is not None else None)
        if not self.root.exists():
            detect_layout(self.root)  # raises the one-line "does not exist" error
        self.layout = detect_layout(self.root) if layout == "auto" else layout

    def files(self) -> list[Path]:
        """Every file the frames come from (images, labels, masks, json): the manifest."""
        r = self.root
        if self.layout == "coco":
            j = find_coco_json(r)
            if j is None:
                raise UserError("no COCO json found", file=r, fix="name it annotations.json or give its path")
            return [j] + [f.path for f in read_coco(j, None) if f.path is not None]
        if self.layout == "masks":
            splits = masks_splits(r)
            dirs = [splits[s] for s in (self.split or splits) if s in splits]
            return sorted(p for d in dirs for sub in ("images", "masks") for p in (d / sub).iterdir() if p.is_file())
        if self.layout == "yolo":
            return sorted(p for sub in ("images", "labels") if (r / sub).is_dir()
                          for p in (r / sub).rglob("*") if p.is_file())
        return sorted(p for d in classes_dirs(r) if d is not None for p in d.rglob("*") if p.is_file())

    def fingerprint(self) -> str:
        base = self.root if self.root.is_dir() else self.root.parent
        files = [[str(p.relative_to(base)), p.stat().st_size, file_sha256(p)] for p in self.files()]
        return sha256_json({"dataset": self.name, "version": VERSION, "layout": self.layout,
                            "group_regex": self.group_regex, "split": self.split, "files": files})

    def load(self) -> FrameSet:
        r = self.root
        if self.layout == "classes":
            frames = read_classes(r, self._regex)
        elif self.layout == "yolo":
            if not (r / "images").is_dir():
                raise UserError("no images/ folder", file=r, fix="a YOLO dataset has images/ and labels/")
            frames = read_yolo(r, self._regex)
        elif self.layout == "coco":
            j = find_coco_json(r)
            if j is None:
                raise UserError("no COCO json found", file=r, fix="name it annotations.json or give its path")
            frames = read_coco(j, self._regex)
        else:
            if not masks_splits(r):
                raise UserError("no <split>/images + <split>/masks folders", file=r,
                                fix="point at the unpacked FLYD-S folder (dataset_flyd)")
            frames = read_masks(r, self._regex, self.split)
        if not frames:
            raise UserError(f"no images found ({self.layout} layout)", file=r,
                            fix="check the path; run `bench data check` on it")
        return FrameSet(frames, name=self.name)


def require_boxes(frames: FrameSet, purpose: str = "train a detector") -> None:
    """Refuse frames whose boxes are unknown (Classes layout) where boxes are needed."""
    unknown = [f for f in frames if f.boxes is None]
    if unknown:
        raise UserError(
            f"{len(unknown)} crack frame(s) have no boxes (e.g. {unknown[0].stem}): cannot {purpose}",
            file=unknown[0].path,
            fix="the Classes layout only has crack/sane folders; use a yolo, coco or masks layout for detection "
                "(Classes frames still serve generator training and frame-level metrics)")
