"""Content-addressed cache for generated frames and pseudo-labels, shared by runs and workers.

Each frame's sidecar records the sha256 of its PNG when it is written; a read checks it, so a
damaged or replaced file is recomputed (and reported in ``problems``), never trained on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.errors import naming_full_disk
from benchbench.frames import Box, Frame, FrameSet
from benchbench.hashing import sha256_json
from benchbench.records.store import atomic_write_json


def _atomic_png(path: Path, image: np.ndarray) -> str:
    """Write the PNG via a temp file + rename; returns the sha256 of its bytes."""
    from PIL import Image  # PIL: heavy, off the start-up path

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    data = buf.getvalue()
    tmp = path.with_name(f".{path.name}.{np.random.default_rng().integers(1 << 30)}.tmp")
    with naming_full_disk(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            tmp.write_bytes(data)
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return hashlib.sha256(data).hexdigest()


STALE_TEMP_S = 3600  # an entry's temp file this old belongs to a writer that was killed


def _sweep_stale_temps(path: Path) -> None:
    """Delete temp files a killed writer left for this entry (a live writer's are younger)."""
    now = time.time()
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > STALE_TEMP_S:
                tmp.unlink()


def _boxes_json(boxes: tuple[Box, ...] | None) -> list[dict[str, Any]] | None:
    return None if boxes is None else [b.to_dict() for b in boxes]


def _boxes_from(data: list[dict[str, Any]] | None) -> tuple[Box, ...] | None:
    if data is None:
        return None
    return tuple(Box(*d["bbox"], score=d.get("score", 1.0), label=d.get("label", "crack")) for d in data)


def _mask_path(png: Path) -> Path:
    return png.with_name(png.stem + ".mask.png")


class Cache:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.problems: list[str] = []  # entries found damaged (and so recomputed), one line each

    # -- frames
    def _frame_paths(self, key: str) -> tuple[Path, Path]:
        d = self.root / "frames" / key[:2]
        return d / f"{key}.png", d / f"{key}.json"

    def has_frame(self, key: str) -> bool:
        """Whether the frame's files are there (``get_frame`` still checks their content)."""
        return all(path.exists() for path in self._frame_paths(key))

    def get_frame(self, key: str) -> Frame | None:
        """The cached frame, or None when absent or damaged (then it is recomputed and noted in problems)."""
        png, meta = self._frame_paths(key)
        if not (png.exists() and meta.exists()):
            return None
        problem = self._frame_problem(png, meta)
        if problem is None:  # written before sidecars carried a hash: regenerated once, quietly
            return None
        if isinstance(problem, str):
            self.problems.append(f"cache: {problem}: recomputed")
            return None
        m = problem
        return Frame(png, m["width"], m["height"], m["label"], _boxes_from(m["boxes"]), m["group"],
                     m["source"], meta=self._frame_meta(m, png))

    @staticmethod
    def _frame_meta(sidecar: dict[str, Any], png: Path) -> dict[str, Any]:
        """A cached frame's meta: its name and, when it was generated with one, its crack mask's PNG
        (``meta["mask"]``, the convention of FLYD-S ``masks``-layout frames)."""
        meta = {"name": sidecar["name"]}
        if "mask_sha256" in sidecar:
            meta["mask"] = str(_mask_path(png))
        return meta

    @staticmethod
    def _frame_problem(png: Path, meta: Path) -> str | dict[str, Any] | None:
        """The sidecar when the entry is sound, what is wrong with it (naming the file), or None for
        an entry without a recorded hash."""
        try:
            m = json.loads(meta.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return f"{meta} is not valid JSON"
        try:
            if not isinstance(m, dict):
                raise TypeError
            _boxes_from(m["boxes"])
            int(m["width"]), int(m["height"]), str(m["label"]), m["group"], m["source"], m["name"]
        except (KeyError, TypeError, ValueError):
            return f"{meta} is not a frame sidecar"
        if "sha256" not in m:
            return None
        if m["sha256"] != hashlib.sha256(png.read_bytes()).hexdigest():
            return f"{png} does not match the hash recorded when it was written"
        if "mask_sha256" in m:
            mask = _mask_path(png)
            if not mask.exists() or m["mask_sha256"] != hashlib.sha256(mask.read_bytes()).hexdigest():
                return f"{mask} is missing or does not match the hash recorded when it was written"
        return m

    def get_frame_by_path(self, path: str | Path) -> Frame:
        frame = self.get_frame(Path(path).stem)
        if frame is None:
            raise FileNotFoundError(f"cached frame vanished or was damaged since it was generated: {path}")
        return frame

    def put_frame(self, key: str, frame: Frame) -> Frame:
        """Store a frame's pixels + annotations; returns the same frame backed by the cached file."""
        png, meta = self._frame_paths(key)
        img = frame.load()
        _sweep_stale_temps(png)
        _sweep_stale_temps(meta)
        digest = _atomic_png(png, img)
        h, w = img.shape[:2]
        sidecar = {"name": frame.stem, "width": w, "height": h, "label": frame.label,
                   "boxes": _boxes_json(frame.boxes), "group": frame.group, "source": frame.source, "sha256": digest}
        mask = frame.meta.get("mask")
        if isinstance(mask, np.ndarray):  # a generator's crack mask (labeler: mask reads its boxes from it)
            sidecar["mask_sha256"] = _atomic_png(_mask_path(png), (np.asarray(mask) > 0).astype(np.uint8) * 255)
        # The sidecar is written last: a frame counts as cached only once its files exist.
        atomic_write_json(meta, sidecar, durable=False)
        return Frame(png, w, h, frame.label, frame.boxes, frame.group, frame.source,
                     meta=self._frame_meta(sidecar, png))

    def materialize(self, frames: FrameSet, namespace: str) -> FrameSet:
        """Write in-memory frames (no path) to the cache so every worker can read them by path."""
        out = []
        for f in frames:
            if f.path is not None and f.image is None:
                out.append(f)
                continue
            key = sha256_json([namespace, f.stem])
            cached = self.get_frame(key) or self.put_frame(key, f)
            if callable(f.meta.get("mask")):  # a mask drawn on demand (the simulated dataset's): no file to keep
                cached = dataclasses.replace(cached, meta={**cached.meta, "mask": f.meta["mask"]})
            out.append(cached)
        return FrameSet(out, frames.name)

    # -- json blobs (pseudo-labels, fingerprints)
    def get_json(self, kind: str, key: str) -> Any | None:
        p = self.root / kind / f"{key}.json"
        try:
            return json.loads(p.read_text())
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):
            self.problems.append(f"cache: {p} is not valid JSON: recomputed")
            return None

    def put_json(self, kind: str, key: str, obj: Any) -> None:
        path = self.root / kind / f"{key}.json"
        _sweep_stale_temps(path)
        atomic_write_json(path, obj, durable=False)


def frame_key(generator_id: dict[str, Any], label: str, guidance: float | None, seed: int, index: int,
              size: int) -> str:
    """Cache key of one generated frame: generator identity (plugin, version, fingerprint,
    parameters) + class + guidance + seed + index + the requested size. The size is the run's
    median real frame size: without it two matrices sharing a cache (simulated 128-px frames,
    FLYD-S 150-px crops) were served each other's frames."""
    return sha256_json({"gen": generator_id, "label": label, "guidance": guidance, "seed": seed, "i": index,
                        "size": size})

