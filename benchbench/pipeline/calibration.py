"""Generator calibration: the harness side of a generator's optional ``calibrate(train) -> dict``.

A generator that tunes itself to the data (the physics simulator's contrast, noise and crack
widths) must learn that only from the frames a detector of the same fold trains on: calibrated on
every specimen, its frames would carry the test specimens into training. So the harness calls
``calibrate`` once per fold (once for a plain split) with that fold's real training frames, ground
truth included and never a test specimen's frame, caches the result by (generator, frames), records
it in the generator's provenance, hands it to generation as ``GenerationRequest.calibration`` and
puts its hash in the generator's identity, so the frame cache never serves frames of another
calibration. A calibration holding ``crop_sizes`` (the real training crops' sizes) makes the harness
resize every generated frame to one of them, drawn by (seed, label, index); a generator row with
``resize: real`` gets them whether or not its generator calibrates itself.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

import numpy as np

from benchbench.errors import UserError
from benchbench.frames import Box, Frame, FrameSet
from benchbench.hashing import sha256_json
from benchbench.metrics.masks import resize_mask


def calibrate(gen: Any, identity: dict[str, Any], train: FrameSet, cache: Any, *, name: str,
              field: str) -> dict[str, Any] | None:
    """``gen.calibrate(train)`` (None for a generator without it), from the cache when this generator
    (``identity``) was calibrated on these frames before."""
    if not hasattr(gen, "calibrate"):
        return None
    key = sha256_json({"generator": identity, "train": train.manifest_hash()})
    hit = cache.get_json("calibration", key)
    if isinstance(hit, dict):
        return hit
    out = gen.calibrate(train)
    try:
        if not isinstance(out, dict):
            raise TypeError(f"it returned a {type(out).__name__}")
        out = json.loads(json.dumps(out, allow_nan=False))  # JSON-able, and as the cache gives it back
    except (TypeError, ValueError) as exc:
        raise UserError(f"generator '{name}': calibrate() did not return a JSON mapping ({exc})", field=field,
                        fix="have calibrate return a dict of numbers, strings and lists") from None
    sizes = out.get("crop_sizes")
    if sizes is not None and not (isinstance(sizes, list) and sizes and all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes)):
        raise UserError(f"generator '{name}': calibrate() gave crop_sizes {str(sizes)[:60]}", field=field,
                        fix="crop_sizes must be a non-empty list of positive integers (pixels)")
    cache.put_json("calibration", key, out)
    return out


def crop_side(width: int, height: int) -> int:
    """The side of the square synthetic crop standing for a real ``width`` x ``height`` crop."""
    return int(round((width + height) / 2))


def real_crop_sizes(train: FrameSet) -> list[int]:
    """The crop sizes of a fold's real training frames, sorted (generated frames, never handed over here,
    would not count)."""
    return sorted(crop_side(f.width, f.height) for f in train if not f.source.startswith("synthetic"))


def with_real_sizes(calib: dict[str, Any] | None, train: FrameSet) -> dict[str, Any]:
    """A ``resize: real`` row's calibration: its generator's own (if any) with the fold's real crop sizes,
    which the harness resizes every frame of the row to."""
    return {**(calib or {}), "crop_sizes": real_crop_sizes(train)}


def calibration_record(calibration: dict[str, Any], train: FrameSet) -> dict[str, Any]:
    """What the generator's provenance says of a calibration: the specimens and frames it learnt from."""
    return {"groups": train.groups(), "n_frames": len(train), "frames_sha256": train.manifest_hash(),
            "sha256": sha256_json(calibration), "crop_sizes": len(calibration.get("crop_sizes") or [])}


def crop_size(sizes: list[int], seed: int, label: str, index: int) -> int:
    """The size frame ``index`` of (seed, label) is resized to: drawn from ``sizes`` by a hash, so it
    depends on nothing else (nested generation and caching stay exact)."""
    digest = hashlib.sha256(f"crop size:{int(seed)}:{label}:{int(index)}".encode()).digest()
    return int(sizes[int.from_bytes(digest[:8], "big") % len(sizes)])


def resize_frame(frame: Frame, size: int) -> Frame:
    """The frame with its long side ``size`` px (aspect kept), its boxes and crack mask scaled with it.

    The mask (``meta["mask"]``, what ``labeler: mask`` takes boxes from) is area-resampled and kept where
    any of a pixel is crack: nearest-neighbour would drop a 1-px crack when the frame shrinks, and the
    frame would lose its boxes. Boxes are scaled exactly.
    """
    from PIL import Image  # PIL: heavy, off the start-up path

    w, h = frame.width, frame.height
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    if (nw, nh) == (w, h):
        return frame
    img = np.asarray(Image.fromarray(frame.load()).resize((nw, nh), Image.Resampling.BILINEAR))
    sx, sy = nw / w, nh / h
    boxes = None if frame.boxes is None else tuple(
        Box(b.x * sx, b.y * sy, b.w * sx, b.h * sy, b.score, b.label) for b in frame.boxes)
    meta = dict(frame.meta)
    if "mask" in meta:
        meta["mask"] = resize_mask(meta["mask"], nw, nh)
    return replace(frame, width=nw, height=nh, boxes=boxes, image=img, meta=meta)
