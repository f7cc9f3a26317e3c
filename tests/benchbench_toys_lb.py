"""A toy detector whose predictions carry controlled noise, for the comparison and leaderboard tests.

``noisydet`` is the toy detector of ``benchbench_toys`` with its boxes moved by a seeded random
offset: ``noise`` is the offset's standard deviation as a fraction of the box width (x) and height (y);
``noise_seed`` picks the draw. Two runs that differ only in ``noise_seed`` at a small ``noise``
model run-to-run noise; a large ``noise`` is a genuinely worse detector (boxes miss the crack).
"""

from __future__ import annotations

import numpy as np
from benchbench_toys import ToyDetector

from benchbench.api import Box, CellContext, FrameSet
from benchbench.hookspecs import hookimpl

__version__ = "1.0"


class NoisyDetector(ToyDetector):
    name = "noisydet"
    version = "1"

    def __init__(self, noise: float = 0.0, noise_seed: int = 0):
        super().__init__()
        self.noise, self.noise_seed = noise, noise_seed

    def params(self) -> dict:
        return {"noise": self.noise, "noise_seed": self.noise_seed}

    def predict(self, frames: FrameSet, ctx: CellContext) -> list[list[Box]]:
        rng = np.random.default_rng([self.noise_seed, ctx.seed])
        out = []
        for boxes in super().predict(frames, ctx):
            moved = []
            for b in boxes:
                dx, dy = rng.normal(0.0, self.noise, size=2) * (b.w, b.h)
                moved.append(Box(b.x + dx, b.y + dy, b.w, b.h, score=b.score))
            out.append(moved)
        return out


@hookimpl
def benchbench_register_detectors(register):
    register("noisydet", NoisyDetector)
