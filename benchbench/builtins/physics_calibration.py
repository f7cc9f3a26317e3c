"""What the ``physics`` generator takes from the real training frames of a fold (``calibrate``).

Only cheap, direct measurements, each from frames the harness hands over as the fold's training frames:
the crop sizes (so synthetic crops follow the real size distribution and a crack keeps its pixel width),
the crack heights (box heights of the cracked frames: the simulator's crack length distribution) and, for
``cracks: train``, the cracks themselves as polylines read off the training masks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchbench.frames import FrameSet
from benchbench.pipeline.calibration import real_crop_sizes

MIN_PATH_ROWS = 6  # px: a mask shorter than this is annotation noise, not a crack to redraw


def crack_heights(train: FrameSet) -> list[float]:
    """Heights (px) of the boxes of the cracked training frames, sorted."""
    return sorted(float(b.h) for f in train.positives() for b in f.boxes or ())


def crack_path(mask: np.ndarray, step: int = 2) -> list[list[float]] | None:
    """The largest crack of a mask as a top-to-bottom polyline, px from the crop centre: per row (every
    ``step``-th) the mean column of the crack's pixels. None for a mask without a crack worth drawing."""
    from scipy import ndimage as ndi  # scipy: heavy, off the start-up path

    lab, n = ndi.label(np.asarray(mask) > 0, structure=np.ones((3, 3), bool))
    if n == 0:
        return None
    biggest = 1 + int(np.argmax(np.bincount(lab.ravel())[1:]))
    rows = np.flatnonzero((lab == biggest).any(axis=1))
    if rows.size < MIN_PATH_ROWS:
        return None
    h, w = mask.shape
    keep = np.unique(np.concatenate([rows[::step], rows[-1:]]))
    pts = [[round(float(np.flatnonzero(lab[r] == biggest).mean()) + 0.5 - w / 2, 2), round(r + 0.5 - h / 2, 2)]
           for r in keep]
    return pts


def read_mask(path: str) -> np.ndarray:
    from PIL import Image  # PIL: heavy, off the start-up path

    with Image.open(path) as im:
        return np.asarray(im.convert("L")) > 127


def crack_paths(train: FrameSet) -> list[list[list[float]]]:
    """The crack polylines of every cracked training frame that carries a mask (FLYD-S ``masks`` layout)."""
    out = []
    for f in train.positives():
        if f.meta.get("mask") and isinstance(f.meta["mask"], str):
            path = crack_path(read_mask(f.meta["mask"]))
            if path is not None:
                out.append(path)
    return out


def calibration(train: FrameSet, *, with_paths: bool) -> dict[str, Any]:
    """The JSON-able calibration of one fold (the harness records where it came from).

    ``train`` is the dataset's training frames of the fold, whatever the dataset calls their source (the
    ``simulated`` dataset's are "simulated", FLYD's "real"); generated ("synthetic:...") frames, which the
    harness never hands over here, would not be read.
    """
    real = FrameSet([f for f in train if not f.source.startswith("synthetic")], train.name)
    out: dict[str, Any] = {
        "crop_sizes": real_crop_sizes(real),
        "crack_heights": crack_heights(real),
        "groups": sorted({f.group for f in real}),
        "frames": len(real),
    }
    if with_paths:
        out["crack_paths"] = crack_paths(real)
    return out
