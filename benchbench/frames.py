"""The data types every part of benchbench passes around: boxes, frames and frame sets."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from benchbench.errors import UserError
from benchbench.hashing import file_sha256, sha256_json

Label = Literal["crack", "sane"]
CLASSES: tuple[str, ...] = ("crack",)


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels, COCO convention: top-left x, y, width, height."""

    x: float
    y: float
    w: float
    h: float
    score: float = 1.0
    label: str = "crack"

    def xyxy(self) -> tuple[float, float, float, float]:
        return self.x, self.y, self.x + self.w, self.y + self.h

    def to_dict(self) -> dict[str, Any]:
        return {"bbox": [self.x, self.y, self.w, self.h], "score": self.score, "label": self.label}

    @classmethod
    def from_xyxy(cls, x1: float, y1: float, x2: float, y2: float, score: float = 1.0,
                  label: str = "crack") -> Box:
        return cls(float(x1), float(y1), float(x2 - x1), float(y2 - y1), float(score), label)


@dataclass(frozen=True)
class Frame:
    """One image with its annotations.

    ``boxes`` is ``None`` when the boxes are unknown (a cracked synthetic frame
    that still needs a labeler, or a Classes-layout frame), ``()`` when the frame
    has no crack. ``label`` is ``None`` only on the frames a detector's ``predict``
    receives (:meth:`without_truth`).
    """

    path: Path | None
    width: int
    height: int
    label: Label | None
    boxes: tuple[Box, ...] | None = ()
    group: str = "default"
    source: str = "real"
    image: np.ndarray | None = field(default=None, compare=False, repr=False)
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def stem(self) -> str:
        return self.path.stem if self.path else self.meta.get("name", "frame")

    def load(self) -> np.ndarray:
        """The pixels as an HxWx3 uint8 array (grey images are repeated on 3 channels).

        A writable copy of its own: a plugin may change it in place (``torch.from_numpy`` warns
        on a read-only array) without changing the frame.
        """
        if self.image is not None:
            arr = as_rgb_uint8(self.image)
            return arr.copy() if np.may_share_memory(arr, self.image) else arr
        if self.path is None:
            raise UserError("frame has neither pixels nor a path")
        from PIL import Image  # PIL: heavy, off the start-up path

        try:
            with Image.open(self.path) as im:
                return np.array(im.convert("RGB"))  # np.asarray of a PIL image is read-only
        except (OSError, ValueError) as exc:
            raise UserError(f"unreadable image ({exc})", file=self.path,
                            fix="re-export or remove the file") from None

    def with_boxes(self, boxes: Iterable[Box] | None) -> Frame:
        return replace(self, boxes=None if boxes is None else tuple(boxes))

    def without_truth(self) -> Frame:
        """The frame as a detector's ``predict`` sees it: pixels, size, path and group only.

        A benchmark must not hand out its answers: no boxes, label, source or ``meta`` (a simulated
        frame's scene, a synthetic frame's name, which spells its label). The evaluator keeps its own copy.
        """
        return Frame(self.path, self.width, self.height, None, None, self.group, source="", image=self.image)

    def content_hash(self) -> str:
        if self.path is not None and self.image is None:
            return file_sha256(self.path)
        return hashlib.sha256(np.ascontiguousarray(self.load()).tobytes()).hexdigest()


def as_rgb_uint8(img: np.ndarray) -> np.ndarray:
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return arr


class FrameSet(Sequence[Frame]):
    """An ordered, immutable list of frames with a stable manifest hash."""

    def __init__(self, frames: Iterable[Frame], name: str = "frames"):
        self._frames = tuple(frames)
        self.name = name

    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return FrameSet(self._frames[i], self.name)
        return self._frames[i]

    def __iter__(self) -> Iterator[Frame]:
        return iter(self._frames)

    def __add__(self, other: FrameSet) -> FrameSet:
        return FrameSet(self._frames + tuple(other), self.name)

    def __repr__(self) -> str:
        return f"FrameSet({self.name!r}, n={len(self)}, crack={len(self.positives())})"

    def positives(self) -> FrameSet:
        return FrameSet((f for f in self if f.label == "crack"), self.name)

    def negatives(self) -> FrameSet:
        return FrameSet((f for f in self if f.label == "sane"), self.name)

    def groups(self) -> list[str]:
        return sorted({f.group for f in self})

    def filter(self, pred: Callable[[Frame], bool]) -> FrameSet:
        return FrameSet((f for f in self if pred(f)), self.name)

    def without_truth(self) -> FrameSet:
        """Every frame as ``predict`` sees it (:meth:`Frame.without_truth`), in the same order."""
        return FrameSet((f.without_truth() for f in self), self.name)

    def has_boxes(self) -> bool:
        return all(f.boxes is not None for f in self)

    def manifest(self) -> list[dict[str, Any]]:
        return [{"name": f.stem, "label": f.label, "group": f.group, "source": f.source,
                 "size": [f.width, f.height], "sha256": f.content_hash(),
                 "boxes": None if f.boxes is None else [b.to_dict() for b in f.boxes]}
                for f in self]

    def manifest_hash(self) -> str:
        return sha256_json(self.manifest())
