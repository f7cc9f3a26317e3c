"""The closest-pairs grid: for the synthetic frames nearest to a real one, the frame beside its nearest
real training frame and its nearest held-out test frame, with the pixel distances (relative to the
real scale). What a reader checks to see whether a generator copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchbench.drawing.samples import TILE, frame_tile
from benchbench.frames import FrameSet

LABEL_H = 14


def closest_pairs_grid(syn: FrameSet, train: FrameSet, test: FrameSet,
                       pairs: dict[str, tuple[np.ndarray, np.ndarray]], out_png: Path, n: int,
                       scale: float) -> Path:
    from PIL import Image, ImageDraw  # PIL: heavy, off the start-up path

    d_train, i_train = pairs["train"]
    d_test, i_test = pairs["test"]
    order = np.argsort(np.minimum(d_train, d_test), kind="stable")[:n]
    cols = ("synthetic", "nearest train", "nearest TEST")
    grid = Image.new("RGB", (3 * (TILE + 4) + 4, LABEL_H + len(order) * (TILE + LABEL_H + 4) + 4), (20, 20, 20))
    draw = ImageDraw.Draw(grid)
    for c, name in enumerate(cols):
        draw.text((4 + c * (TILE + 4), 2), name, fill=(230, 230, 230))
    for r, s in enumerate(order):
        y = LABEL_H + r * (TILE + LABEL_H + 4)
        row = ((syn[int(s)], syn[int(s)].stem[:20]),
               (train[int(i_train[s])], f"d={d_train[s] / scale:.2f}" if scale > 0 else f"d={d_train[s]:.3f}"),
               (test[int(i_test[s])], f"d={d_test[s] / scale:.2f}" if scale > 0 else f"d={d_test[s]:.3f}"))
        for c, (frame, text) in enumerate(row):
            x = 4 + c * (TILE + 4)
            grid.paste(frame_tile(frame, TILE), (x, y))
            draw.text((x + 2, y + TILE + 1), text, fill=(255, 80, 80) if c == 2 and d_test[s] == 0 else (200, 200, 200))
    out_png.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out_png)
    return out_png
