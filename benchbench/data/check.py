"""``bench data check``: validate a dataset folder and list every problem with its file and line.

Unlike the loaders, which stop at the first problem, the checker keeps going and reports all of
them, each an ``error`` (the loader would refuse it or the frame would be wrong) or a ``warning``
(suspicious but usable: an image without a label file is taken as sane).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from benchbench.data import flyd
from benchbench.data.groups import DEFAULT_GROUP_REGEX, compile_group_regex, group_of
from benchbench.errors import UserError

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    severity: Severity
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{self.severity}: {where}: {self.message}"


@dataclass
class Report:
    root: str
    layout: str
    counts: dict[str, int] = field(default_factory=lambda: {"crack": 0, "sane": 0})
    groups: dict[str, dict[str, int]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    boxes: int = 0
    clipped: int = 0  # boxes the loader clips to their image
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, file: Path | str, line: int | None, severity: Severity, message: str) -> None:
        self.problems.append(Problem(str(file), line, severity, message))

    def count(self, label: str, group: str, width: int, height: int, n_boxes: int = 0) -> None:
        self.counts[label] = self.counts.get(label, 0) + 1
        g = self.groups.setdefault(group, {"crack": 0, "sane": 0})
        g[label] = g.get(label, 0) + 1
        key = f"{width}x{height}"
        self.sizes[key] = self.sizes.get(key, 0) + 1
        self.boxes += n_boxes

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "layout": self.layout, "counts": self.counts, "groups": self.groups,
                "sizes": self.sizes, "boxes": self.boxes, "clipped": self.clipped, "ok": self.ok,
                "problems": [p.__dict__ for p in self.problems]}

    def format(self, max_problems: int = 200) -> str:
        lines = [f"{self.root} ({self.layout} layout): {self.counts.get('crack', 0)} crack, "
                 f"{self.counts.get('sane', 0)} sane, {self.boxes} boxes"
                 + (f" ({self.clipped} clipped to their image)" if self.clipped else "")]
        for g in sorted(self.groups):
            c = self.groups[g]
            lines.append(f"  group {g}: {c.get('crack', 0)} crack, {c.get('sane', 0)} sane")
        sizes = sorted(self.sizes.items(), key=lambda kv: -kv[1])
        lines.append("  sizes: " + ", ".join(f"{k} ({v})" for k, v in sizes[:8])
                     + (f", ... {len(sizes) - 8} more" if len(sizes) > 8 else ""))
        lines += [str(p) for p in self.problems[:max_problems]]
        if len(self.problems) > max_problems:
            lines.append(f"... {len(self.problems) - max_problems} more problems")
        lines.append(f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)")
        return "\n".join(lines)


def _open_image(rep: Report, path: Path) -> tuple[int, int] | None:
    """(width, height) after a full decode (a truncated JPEG passes a header-only check)."""
    from PIL import Image  # PIL: heavy, off the start-up path

    try:
        with Image.open(path) as im:
            im.load()
            return im.size
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for broken files
        rep.add(path, None, "error", f"unreadable image ({exc.__class__.__name__}: {exc})")
        return None


def check_dataset(root: str | Path, layout: str = "auto", group_regex: str | None = DEFAULT_GROUP_REGEX) -> Report:
    """Validate ``root``; never raises for data problems (they are in the report), only for a bad root/layout."""
    root = Path(root).expanduser()
    if layout not in flyd.LAYOUTS + ("auto",):
        raise UserError(f"unknown layout {layout!r}", field="--layout",
                        fix="use one of " + ", ".join(flyd.LAYOUTS + ("auto",)))
    if not root.exists():
        flyd.detect_layout(root)  # raises the one-line "does not exist" error
    lay = flyd.detect_layout(root) if layout == "auto" else layout
    regex = compile_group_regex(group_regex)
    rep = Report(str(root), lay)
    try:
        {"classes": _check_classes, "yolo": _check_yolo, "coco": _check_coco, "masks": _check_masks}[lay](
            rep, root, regex)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a shape no check above foresaw
        rep.add(root, None, "error", f"malformed {lay} dataset, not checked further ({type(exc).__name__}: {exc})")
    if sum(rep.counts.values()) == 0:
        rep.add(root, None, "error", f"no images found for the {lay} layout")
    return rep


# --------------------------------------------------------------------------- classes
def _check_classes(rep: Report, root: Path, regex: re.Pattern[str] | None) -> None:
    crack, sane = flyd.classes_dirs(root)
    if crack is None or sane is None:
        rep.add(root, None, "warning", "expected both crack/ and sane/ folders; found only "
                + ("crack/" if crack else "sane/"))
    for folder, label in ((crack, "crack"), (sane, "sane")):
        if folder is None:
            continue
        for p in sorted(folder.rglob("*")):
            if not p.is_file() or p.name.startswith("."):
                continue
            if not flyd.is_image(p):
                rep.add(p, None, "warning", "not an image file: ignored")
                continue
            size = _open_image(rep, p)
            if size:
                rep.count(label, group_of(p.name, regex), *size)


# --------------------------------------------------------------------------- yolo
def _yolo_names(rep: Report, root: Path) -> set[int]:
    """Class ids declared in data.yaml (default: {0})."""
    yaml_path = root / "data.yaml"
    if not yaml_path.is_file():
        return {0}
    try:
        data = yaml.safe_load(yaml_path.read_text()) or {}
    except Exception as exc:  # noqa: BLE001
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        rep.add(yaml_path, None if line is None else line + 1, "error", f"invalid YAML ({exc.__class__.__name__})")
        return {0}
    if not isinstance(data, dict):
        rep.add(yaml_path, 1, "error", f"data.yaml must be a mapping (names:, train:, ...), not a "
                                       f"{type(data).__name__}")
        return {0}
    names = data.get("names")
    if isinstance(names, dict):
        if not all(isinstance(k, int) and not isinstance(k, bool) for k in names):
            rep.add(yaml_path, None, "error", "names: class ids must be integers (e.g. 0: crack)")
            return {0}
        ids = set(names)
    elif isinstance(names, list):
        ids = set(range(len(names)))
    else:
        ids = {0}
    if len(ids) != 1:
        rep.add(yaml_path, None, "warning", f"{len(ids)} classes declared; FLYD has one (crack)")
    return ids


def _check_yolo(rep: Report, root: Path, regex: re.Pattern[str] | None) -> None:
    if not (root / "images").is_dir():
        rep.add(root, None, "error", "no images/ folder")
        return
    known = _yolo_names(rep, root)
    images = flyd.list_images(root / "images", recursive=True)
    label_files = {p for p in (root / "labels").rglob("*.txt")} if (root / "labels").is_dir() else set()
    used: set[Path] = set()
    for img in images:
        size = _open_image(rep, img)
        lab = flyd.yolo_label_path(root, img)
        n_boxes = 0
        if not lab.is_file():
            rep.add(img, None, "warning", f"no label file ({lab.relative_to(root)}): taken as sane")
        else:
            used.add(lab)
            n_boxes = _check_yolo_labels(rep, lab, known)
        if size:
            rep.count("crack" if n_boxes else "sane", group_of(img.name, regex), *size, n_boxes=n_boxes)
    for lab in sorted(label_files - used):
        if lab.name != "classes.txt":
            rep.add(lab, None, "warning", "label file without an image: ignored")


def _check_yolo_labels(rep: Report, lab: Path, known: set[int]) -> int:
    n = 0
    try:
        text = lab.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        rep.add(lab, None, "error", f"unreadable label file ({exc})")
        return 0
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            cls, cx, cy, w, h = flyd.parse_yolo_line(line)
        except ValueError as exc:
            rep.add(lab, i, "error", str(exc))
            continue
        if cls not in known:
            rep.add(lab, i, "error", f"unknown class id {cls} (known: {sorted(known)})")
            continue
        outside = [n_ for n_, v in zip(("cx", "cy", "w", "h"), (cx, cy, w, h), strict=True) if not 0.0 <= v <= 1.0]
        if outside:
            rep.add(lab, i, "error", f"{', '.join(outside)} outside [0, 1]: coordinates must be normalised")
            continue
        if w <= 0 or h <= 0:
            rep.add(lab, i, "error", "box of zero area")
            continue
        if cx - w / 2 < -1e-6 or cy - h / 2 < -1e-6 or cx + w / 2 > 1 + 1e-6 or cy + h / 2 > 1 + 1e-6:
            rep.add(lab, i, "warning", "box extends past the image border (it will be clipped)")
        n += 1
    return n


# --------------------------------------------------------------------------- coco
def _json_positions(text: str, key: str) -> list[int]:
    """Line number of each element of the top-level array ``key`` (for problems with a line)."""
    m = re.search(r'"' + re.escape(key) + r'"\s*:\s*\[', text)
    if not m:
        return []
    dec = json.JSONDecoder()
    i, out = m.end(), []
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text) or text[i] == "]":
            return out
        out.append(text.count("\n", 0, i) + 1)
        try:
            _, i = dec.raw_decode(text, i)
        except json.JSONDecodeError:
            return out


def _check_coco(rep: Report, root: Path, regex: re.Pattern[str] | None) -> None:
    path = flyd.find_coco_json(root)
    if path is None:
        rep.add(root, None, "error", "no COCO json found (name it annotations.json)")
        return
    try:
        text = path.read_text()
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        rep.add(path, exc.lineno, "error", f"invalid JSON ({exc.msg})")
        return
    except (OSError, UnicodeDecodeError) as exc:
        rep.add(path, None, "error", f"unreadable ({exc})")
        return
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        rep.add(path, 1, "error", "not a COCO file: no 'images' list")
        return
    img_lines = _json_positions(text, "images")
    ann_lines = _json_positions(text, "annotations")
    if not isinstance(data.get("annotations"), list):
        rep.add(path, 1, "error", "not a COCO detection file: no 'annotations' list (a frame without boxes "
                                  "needs none, but the list must be there)")
    raw_cats = data.get("categories")
    cats = {c.get("id") for c in raw_cats if isinstance(c, dict)} if isinstance(raw_cats, list) else set()
    if not cats:
        rep.add(path, None, "error", "no categories")
    images: dict[Any, dict] = {}
    for k, im in enumerate(data["images"]):
        line = img_lines[k] if k < len(img_lines) else None
        if not isinstance(im, dict) or "id" not in im or "file_name" not in im:
            rep.add(path, line, "error", "image entry needs 'id' and 'file_name'")
            continue
        if im["id"] in images:
            rep.add(path, line, "error", f"duplicate image id {im['id']}")
        images[im["id"]] = {"entry": im, "line": line, "boxes": 0}
    anns = data.get("annotations", [])
    for k, a in enumerate(anns if isinstance(anns, list) else []):
        line = ann_lines[k] if k < len(ann_lines) else None
        if not isinstance(a, dict):
            rep.add(path, line, "error", "annotation is not an object")
            continue
        aid = a.get("id")
        if a.get("image_id") not in images:
            rep.add(path, line, "error", f"annotation {aid} points to missing image id {a.get('image_id')}")
            continue
        if a.get("category_id") not in cats:
            rep.add(path, line, "error", f"annotation {aid} has unknown category id {a.get('category_id')}")
            continue
        bbox = a.get("bbox")
        problem = flyd.coco_box_problem(bbox)
        if problem:
            rep.add(path, line, "error", f"annotation {aid}: {problem}")
            continue
        im = images[a["image_id"]]["entry"]
        w, h = im.get("width"), im.get("height")
        if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0:
            clipped = flyd.clip_box(bbox, w, h)
            if clipped is None:
                rep.add(path, line, "error", f"annotation {aid}: box lies outside the {w}x{h} image")
                continue
            if clipped != tuple(bbox):
                rep.clipped += 1
                rep.add(path, line, "warning", f"annotation {aid}: box extends past the image border "
                                               "(clipped to it when loaded, and counted)")
        images[a["image_id"]]["boxes"] += 1
    for info in images.values():
        im, line = info["entry"], info["line"]
        p = flyd.coco_image_path(path, str(im["file_name"]))
        if not p.is_file():
            rep.add(path, line, "error", f"image {im['id']}: file {im['file_name']!r} not found")
            continue
        size = _open_image(rep, p)
        if size is None:
            continue
        if (im.get("width"), im.get("height")) != (None, None) and (im.get("width"), im.get("height")) != size:
            rep.add(path, line, "warning", f"image {im['id']}: declared {im.get('width')}x{im.get('height')}, "
                                           f"file is {size[0]}x{size[1]}")
        rep.count("crack" if info["boxes"] else "sane", group_of(p.name, regex), *size, n_boxes=info["boxes"])


# --------------------------------------------------------------------------- masks
def _check_masks(rep: Report, root: Path, regex: re.Pattern[str] | None) -> None:
    from PIL import Image  # PIL: heavy, off the start-up path

    for _, folder in flyd.masks_splits(root).items():
        images = flyd.list_images(folder / "images")
        stems = Counter(p.stem for p in images)
        for stem, n in stems.items():
            if n > 1:
                rep.add(folder / "images", None, "error", f"{n} images share the stem {stem!r}")
        used: set[Path] = set()
        for img in images:
            size = _open_image(rep, img)
            mp = flyd.mask_path(folder / "images", img)
            if mp is None:
                rep.add(img, None, "error", "no mask with the same stem in masks/")
                continue
            used.add(mp)
            try:
                with Image.open(mp) as im:
                    mask = np.asarray(im.convert("L"))
            except Exception as exc:  # noqa: BLE001
                rep.add(mp, None, "error", f"unreadable mask ({exc.__class__.__name__})")
                continue
            if size is None:
                continue
            if mask.shape != (size[1], size[0]):
                rep.add(mp, None, "error", f"mask is {mask.shape[1]}x{mask.shape[0]}, image is {size[0]}x{size[1]}")
                continue
            values = np.unique(mask)
            if not set(values.tolist()) <= {0, 255}:
                rep.add(mp, None, "warning", "mask is not binary 0/255 (thresholded at 128)")
            boxes = flyd.mask_boxes(mask > 127)
            if len(boxes) > 1:
                rep.add(mp, None, "warning", f"{len(boxes)} separate crack components after merging")
            rep.count("crack" if boxes else "sane", group_of(img.name, regex), *size, n_boxes=len(boxes))
        image_stems = set(stems)
        for mp in sorted((folder / "masks").iterdir()):
            if mp.is_file() and mp not in used and mp.stem not in image_stems:
                rep.add(mp, None, "warning", "mask without an image: ignored")
