"""Sample grids: one row per named FrameSet (real, synthetic:physics g=..., ...), boxes drawn.

What people look at to judge whether synthetic frames resemble real ones. PIL only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.frames import Box, Frame, FrameSet
from benchbench.metrics.masks import frame_mask

TILE = 128  # px per frame in the grid
LABEL_W = 150  # px of the row-name column
GT_COLOUR = (0, 230, 0)
PRED_COLOUR = (255, 60, 60)
FAINT_COLOUR = (110, 50, 50)


def pick(frames: FrameSet, n: int, seed: int = 0) -> list[Frame]:
    """``n`` frames, seeded, cracked ones first (about two thirds) so that boxes are on show."""
    rng = np.random.default_rng(seed)
    pos, neg = list(frames.positives()), list(frames.negatives())
    n_pos = min(len(pos), max(n - len(neg), -(-2 * n // 3)))
    chosen = [pos[i] for i in sorted(rng.choice(len(pos), n_pos, replace=False))] if n_pos else []
    n_neg = min(len(neg), n - len(chosen))
    chosen += [neg[i] for i in sorted(rng.choice(len(neg), n_neg, replace=False))] if n_neg else []
    return chosen


def frame_tile(frame: Frame, size: int, preds: Sequence[Box] = (), mask: np.ndarray | None = None,
          faint: Sequence[Box] = ()) -> Any:
    """The frame scaled into a size x size tile, boxes drawn (a PIL image; PIL is imported lazily).

    ``preds`` are drawn red over the frame's own boxes, ``faint`` ones dark red (e.g. below the
    operating threshold); ``mask`` (the crack mask) is tinted green.
    """
    from PIL import Image, ImageDraw  # PIL: heavy, off the start-up path

    pixels = frame.load()
    if mask is not None:
        pixels = pixels.copy()
        pixels[mask] = (0.5 * pixels[mask] + 0.5 * np.array(GT_COLOUR)).astype(np.uint8)
    img = Image.fromarray(pixels)
    scale = size / max(frame.width, frame.height)
    w, h = max(1, round(frame.width * scale)), max(1, round(frame.height * scale))
    # Nearest keeps 3-px cracks and their masks crisp when a small frame is blown up.
    img = img.resize((w, h), Image.NEAREST if mask is not None else Image.BILINEAR)
    tile = Image.new("RGB", (size, size), (40, 40, 40))
    ox, oy = (size - w) // 2, (size - h) // 2
    tile.paste(img, (ox, oy))
    draw = ImageDraw.Draw(tile)
    drawn = [(b, GT_COLOUR if b.score >= 1.0 else PRED_COLOUR) for b in frame.boxes or ()]
    for b, colour in [(p, FAINT_COLOUR) for p in faint] + drawn + [(p, PRED_COLOUR) for p in preds]:
        x1, y1, x2, y2 = b.xyxy()
        left, top = ox + x1 * scale, oy + y1 * scale
        # A box under a tile pixel wide (or of no area) is drawn as a line: PIL refuses x2 < x1.
        draw.rectangle([left, top, max(left, ox + x2 * scale - 1), max(top, oy + y2 * scale - 1)], outline=colour)
    if frame.boxes is None and frame.label == "crack":
        draw.text((3, size - 12), "crack (no box)", fill=(255, 200, 0))
    return tile


def sample_grid(rows: Mapping[str, FrameSet], out_png: str | os.PathLike, n: int = 8, seed: int = 0,
                masks: bool = False) -> Path:
    """Write a grid PNG with one row of ``n`` frames per named FrameSet; returns its path. ``masks``: tint each
    frame's crack mask (what a mask-conditioned generator drew its frame around) green."""
    from PIL import Image, ImageDraw  # PIL: heavy, off the start-up path

    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    names = list(rows)
    grid = Image.new("RGB", (LABEL_W + n * (TILE + 4), max(1, len(names)) * (TILE + 4) + 4), (20, 20, 20))
    draw = ImageDraw.Draw(grid)
    for r, name in enumerate(names):
        y = 4 + r * (TILE + 4)
        frames = pick(rows[name], n, seed + r)
        draw.text((6, y + TILE // 2 - 12), name[:22], fill=(230, 230, 230))
        draw.text((6, y + TILE // 2 + 2), f"{len(rows[name])} frames", fill=(150, 150, 150))
        for c, f in enumerate(frames):
            grid.paste(frame_tile(f, TILE, mask=frame_mask(f) if masks else None), (LABEL_W + c * (TILE + 4), y))
    grid.save(out)
    return out
