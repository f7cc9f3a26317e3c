"""Sample grids of real and synthetic frames, boxes drawn."""

from __future__ import annotations

import numpy as np
from PIL import Image

from benchbench.api import Box, Frame, FrameSet
from benchbench.data.simulate import simulate_frames
from benchbench.drawing.samples import LABEL_W, TILE, pick, sample_grid


def test_sample_grid(tmp_path):
    real_like = FrameSet([Frame(None, 200, 220, "crack", None, "Sample1",
                                image=np.full((220, 200), 60, np.uint8))] * 3, "real")
    rows = {"real": real_like, "synthetic:physics g=-": simulate_frames(12, 0, size=96, positive_fraction=0.5)}
    out = sample_grid(rows, tmp_path / "s" / "grid.png", n=4, seed=1)
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (2 * (TILE + 4) + 4, LABEL_W + 4 * (TILE + 4), 3)
    synth_row = img[TILE + 8:2 * TILE + 8, LABEL_W:]
    green = (synth_row[..., 1] > 200) & (synth_row[..., 0] < 60) & (synth_row[..., 2] < 60)
    assert green.sum() > 20  # the ground-truth boxes are drawn
    assert sample_grid(rows, tmp_path / "again.png", n=4, seed=1).read_bytes() == out.read_bytes()


def test_sample_grid_can_tint_the_crack_masks(tmp_path):
    mask = np.zeros((64, 64), bool)
    mask[10:50, 30:34] = True
    drawn = FrameSet([Frame(None, 64, 64, "crack", None, image=np.full((64, 64), 90, np.uint8),
                            meta={"mask": lambda: mask})], "ddpm-masked")
    plain = np.asarray(Image.open(sample_grid({"m": drawn}, tmp_path / "a.png", n=1)).convert("RGB"))
    tinted = np.asarray(Image.open(sample_grid({"m": drawn}, tmp_path / "b.png", n=1, masks=True)).convert("RGB"))
    tile = (slice(4, 4 + TILE), slice(LABEL_W, LABEL_W + TILE))
    greener = tinted[tile][..., 1].astype(int) - plain[tile][..., 1].astype(int)
    assert (greener > 40).sum() > 100 and not (plain[tile][..., 1].astype(int) - plain[tile][..., 0] > 40).any()


def test_pick_prefers_cracked_frames():
    fs = simulate_frames(20, 0, size=64, positive_fraction=0.5)
    chosen = pick(fs, 6, seed=0)
    assert len(chosen) == 6 and sum(f.label == "crack" for f in chosen) == 4
    assert len(pick(fs[:2], 6)) == 2
    tiny = FrameSet([Frame(None, 8, 8, "crack", (Box(1, 1, 2, 6),), image=np.zeros((8, 8), np.uint8))])
    assert pick(tiny, 3) == list(tiny)
