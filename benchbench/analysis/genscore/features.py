"""Feature extractors: the protocol, shared pre-processing, and the built-in physics descriptor.

An extractor turns frames into an ``(n, d)`` feature array. Registered through the hook
``benchbench_register_feature_extractors``; built in: ``physics`` (this module, numpy only),
``cnn`` (:mod:`benchbench.analysis.genscore.cnn`, trained on the run's real training frames) and the
local-weights ``inception`` / ``dinov2`` (:mod:`benchbench.analysis.genscore.pretrained`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from benchbench.frames import Frame, FrameSet
from benchbench.hashing import sha256_json


@runtime_checkable
class FeatureExtractor(Protocol):
    """``embed(frames) -> (n, d)`` array. Optional: ``fit(train, seed)`` for extractors that learn from
    the run's real training frames (called before ``embed``), and ``standardize = True`` when the
    feature dimensions have unrelated scales (scores then z-score them by the real training frames)."""

    name: str
    version: str

    def fingerprint(self) -> str: ...

    def embed(self, frames: FrameSet) -> np.ndarray: ...


def grey(frame: Frame, size: int) -> np.ndarray:
    """A frame as a ``size`` x ``size`` float32 grey image in [0, 1] (bilinear resize, aspect not kept:
    FLYD crops vary in size but not in what a pixel means along the scan)."""
    from PIL import Image  # PIL: heavy, off the start-up path

    img = Image.fromarray(frame.load()).convert("L")
    if img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    return np.asarray(img, dtype=np.float32) / 255.0


def grey_stack(frames: FrameSet, size: int) -> np.ndarray:
    return np.stack([grey(f, size) for f in frames]) if len(frames) else np.zeros((0, size, size), np.float32)


def pixels(frames: FrameSet, size: int = 32) -> np.ndarray:
    """Pixel-space vectors (``size``² grey values) for memorisation checks."""
    return grey_stack(frames, size).reshape(len(frames), -1)


RADIAL_BINS = 8
BAND_HALF = 4  # px either side of the strongest vertical band in the band profile


class PhysicsDescriptor:
    """Fixed, physics-aware descriptor of a thermogram; no training, no weights.

    FLYD frames are crops centred on the laser spot whose heat falls off as 1/r, and a crack is a
    thin near-vertical thermal barrier. So the descriptor holds: intensity statistics, the radial
    profile around the hottest pixel, gradient statistics with the horizontal/vertical gradient
    balance (a vertical crack is a horizontal step), and the profile across the strongest vertical
    band (the crack's cross-section when there is one).
    """

    name = "physics"
    version = "1"
    standardize = True  # the dimensions mix intensities, ratios and profile values

    def __init__(self, size: int = 64):
        self.size = int(size)

    def fingerprint(self) -> str:
        return sha256_json({"extractor": self.name, "version": self.version, "size": self.size})

    def embed(self, frames: FrameSet) -> np.ndarray:
        return np.stack([self.describe(grey(f, self.size)) for f in frames]) if len(frames) \
            else np.zeros((0, self.dim), np.float32)

    @property
    def dim(self) -> int:
        return len(self.describe(np.zeros((self.size, self.size), np.float32)))

    def describe(self, img: np.ndarray) -> np.ndarray:
        h, w = img.shape
        flat = img.ravel()
        mean, std = float(flat.mean()), float(flat.std())
        z = (flat - mean) / std if std > 0 else np.zeros_like(flat)
        intensity = [mean, std, *np.percentile(flat, [5, 25, 50, 75, 95]), float((z ** 3).mean()),
                     float((z ** 4).mean())]
        cy, cx = np.unravel_index(int(np.argmax(img)), img.shape)
        yy, xx = np.mgrid[0:h, 0:w]
        r = np.hypot(yy - cy, xx - cx) / (0.5 * np.hypot(h, w))
        bins = np.minimum((r * RADIAL_BINS).astype(int), RADIAL_BINS - 1)
        counts = np.bincount(bins.ravel(), minlength=RADIAL_BINS)
        radial = np.bincount(bins.ravel(), flat, RADIAL_BINS) / np.maximum(counts, 1)
        gx, gy = np.abs(np.diff(img, axis=1)), np.abs(np.diff(img, axis=0))
        gmag = np.concatenate([gx.ravel(), gy.ravel()])
        balance = float(gx.mean() / (gx.mean() + gy.mean())) if gx.mean() + gy.mean() > 0 else 0.5
        gradient = [float(gmag.mean()), float(gmag.std()), *np.percentile(gmag, [90, 99]), balance]
        col = gx.mean(axis=0)  # per column boundary: how much horizontal step it carries
        band_at = int(np.argmax(col))
        band_strength = float(col[band_at] / (np.median(col) + 1e-6))
        cols = np.clip(np.arange(band_at - BAND_HALF, band_at + BAND_HALF + 2), 0, w - 1)
        profile = img[:, cols].mean(axis=0)
        band = [band_strength, *(profile - profile.mean())]
        return np.asarray(intensity + list(radial) + gradient + band, dtype=np.float32)
