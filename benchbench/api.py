"""The one module plugins import: data types, plugin protocols, errors and shared helpers.

Importing it is cheap (numpy + stdlib). Heavy helpers (exporters, image IO) are
imported lazily inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from benchbench.errors import BenchError, MissingDependency, PluginError, UserError
from benchbench.hookspecs import hookimpl  # plugins mark their hooks with it: public here
from benchbench.provenance import write_training_manifest

Label = Literal["crack", "sane"]
CLASSES: tuple[str, ...] = ("crack",)


# --------------------------------------------------------------------------- data types
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
    has no crack.
    """

    path: Path | None
    width: int
    height: int
    label: Label
    boxes: tuple[Box, ...] | None = ()
    group: str = "default"
    source: str = "real"
    image: np.ndarray | None = field(default=None, compare=False, repr=False)
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def stem(self) -> str:
        return self.path.stem if self.path else self.meta.get("name", "frame")

    def load(self) -> np.ndarray:
        """The pixels as an HxWx3 uint8 array (grey images are repeated on 3 channels)."""
        if self.image is not None:
            return as_rgb_uint8(self.image)
        if self.path is None:
            raise UserError("frame has neither pixels nor a path")
        from PIL import Image

        try:
            with Image.open(self.path) as im:
                return np.asarray(im.convert("RGB"))
        except (OSError, ValueError) as exc:
            raise UserError(f"unreadable image ({exc})", file=self.path,
                            fix="re-export or remove the file") from None

    def with_boxes(self, boxes: Iterable[Box] | None) -> Frame:
        return replace(self, boxes=None if boxes is None else tuple(boxes))

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

    def has_boxes(self) -> bool:
        return all(f.boxes is not None for f in self)

    def manifest(self) -> list[dict[str, Any]]:
        return [{"name": f.stem, "label": f.label, "group": f.group, "source": f.source,
                 "size": [f.width, f.height], "sha256": f.content_hash(),
                 "boxes": None if f.boxes is None else [b.to_dict() for b in f.boxes]}
                for f in self]

    def manifest_hash(self) -> str:
        return sha256_json(self.manifest())


@dataclass(frozen=True)
class GenerationRequest:
    """Ask a generator for frames ``start_index .. start_index+n-1`` of one class.

    Frame i must depend only on (seed, label, guidance, i), never on n or batching,
    so that nested generation and caching are exact.
    """

    label: Label
    n: int
    guidance: float | None = None
    seed: int = 0
    size: int = 128
    start_index: int = 0
    prompt: str | None = None


@dataclass
class CellContext:
    """What the harness gives a plugin for one unit of work."""

    cell_id: str
    seed: int
    work_dir: Path
    cache_dir: Path
    device: str = "auto"  # "auto" | "cpu" | "cuda[:i]"; resolve with benchbench.api.torch_device
    quiet: bool = False
    progress: Callable[[str, float | None], None] = field(default=lambda phase, frac: None)
    info: dict[str, Any] = field(default_factory=dict)
    # Equal-steps budget (matrix ``axes.budget: [steps]``): train as many optimizer steps as ``epochs``
    # would take on this many frames. None: train the detector's own ``epochs`` (equal epochs).
    budget_frames: int | None = None

    def report(self, phase: str, fraction: float | None = None) -> None:
        """Tell the harness which phase runs (e.g. 'fit epoch 3/30') and how far it is (0..1)."""
        self.progress(phase, fraction)

    def record(self, key: str, value: Any) -> None:
        """Store a JSON-able fact (hyper-parameters, counts) that ends up in the cell's result."""
        self.info[key] = value

    def epochs_for(self, epochs: int, n_train: int) -> int:
        """The epochs to train under this cell's budget.

        At equal epochs, ``epochs``. At equal steps, the epochs over ``n_train`` frames that make as
        many optimizer steps as ``epochs`` over ``budget_frames`` frames (rounded, at least 1), so a
        real-only cell trains as long as the largest-ratio cell of its row.
        """
        if self.budget_frames is None or n_train <= 0:
            return int(epochs)
        return max(1, round(epochs * self.budget_frames / n_train))

    def record_budget(self, *, epochs: int, steps: int, images: int) -> None:
        """Say what training ran (epochs, optimizer steps, images seen); results.json keeps it per cell."""
        self.info["budget"] = {"epochs": int(epochs), "steps": int(steps), "images_seen": int(images)}


# --------------------------------------------------------------------------- protocols
@runtime_checkable
class Detector(Protocol):
    name: str
    version: str

    def fit(self, train: FrameSet, val: FrameSet | None, ctx: CellContext) -> None: ...

    def predict(self, frames: FrameSet, ctx: CellContext) -> list[list[Box]]: ...


@runtime_checkable
class Generator(Protocol):
    name: str
    version: str

    def fingerprint(self) -> str: ...

    def generate(self, req: GenerationRequest, ctx: CellContext) -> list[Frame]: ...


@runtime_checkable
class Dataset(Protocol):
    name: str
    version: str

    def fingerprint(self) -> str: ...

    def load(self) -> FrameSet: ...


@runtime_checkable
class Executor(Protocol):
    name: str

    def map(self, fn: Callable[..., Any], items: Sequence[Any], on_result: Callable[[int, Any], None],
            progress: Callable[[str, str, float | None], None] | None = None) -> None:
        """Run ``fn(item)`` for each item, in any order and maybe elsewhere.

        Calls ``on_result(i, result)`` in the driver as each item ends; an exception raised by
        ``fn`` is passed as the result instead of being raised. ``progress`` may be passed on as
        ``fn(item, progress)`` when fn runs in the driver's process.
        """
        ...


# --------------------------------------------------------------------------- helpers
def sha256_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def dir_fingerprint(path: str | os.PathLike, patterns: Sequence[str] = ("*",)) -> str:
    """Hash of every file (relative name + content) under a folder: a weights fingerprint."""
    root = Path(path)
    if not root.exists():
        raise UserError("path does not exist", file=root, fix="point the matrix at an existing folder")
    h = hashlib.sha256()
    files = sorted({p for pat in patterns for p in root.rglob(pat) if p.is_file()})
    for p in files:
        h.update(str(p.relative_to(root)).encode())
        h.update(file_sha256(p).encode())
    return h.hexdigest()


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (when a plugin has imported it), for bit-identical CPU reruns.

    Never imports torch itself: core runs without it, and importing it costs seconds.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def require_local_path(value: str | os.PathLike, *, field: str, what: str = "weights") -> Path:
    """Resolve a local path or fail with a one-line error (nothing is ever downloaded)."""
    p = Path(value).expanduser()
    if not p.exists():
        raise UserError(f"{what} not found at {p}", field=field,
                        fix=f"give a local path to existing {what} (benchbench never downloads)")
    return p


def export_yolo(frames: FrameSet, out_dir: str | os.PathLike, *, val: FrameSet | None = None) -> Path:
    """Write frames as a YOLO folder (images/, labels/, data.yaml); returns the data.yaml path."""
    from benchbench.data.export import export_yolo as _export

    return _export(frames, out_dir, val=val)


def export_coco(frames: FrameSet, out_path: str | os.PathLike, *, copy_images_to: str | None = None) -> Path:
    """Write frames as a COCO json (one category 'crack'); returns its path."""
    from benchbench.data.export import export_coco as _export

    return _export(frames, out_path, copy_images_to=copy_images_to)


_TORCHKIT = {"torch_device", "torch_generator", "save_state", "load_state"}


def __getattr__(name: str) -> Any:
    # Torch helpers live in benchbench.torchkit; resolved lazily so importing api stays torch-free.
    if name in _TORCHKIT:
        from benchbench import torchkit

        return getattr(torchkit, name)
    raise AttributeError(f"module 'benchbench.api' has no attribute {name!r}")


__all__ = [
    "Box", "Frame", "FrameSet", "GenerationRequest", "CellContext", "Detector", "Generator",
    "Dataset", "Executor", "BenchError", "UserError", "PluginError", "MissingDependency",
    "CLASSES", "sha256_json", "file_sha256", "dir_fingerprint", "seed_everything",
    "require_local_path", "export_yolo", "export_coco", "as_rgb_uint8", "write_training_manifest", "hookimpl",
]
