"""Toy detectors for the conformance kit's tests: one that conforms and one per mistake the kit
must name. They live in a module, not in the test file, because check_detector rebuilds them in a
fresh process (pickled by reference).

``Oracle`` is honest about what it is: it knows the answers to the kit's tiny test sets by heart
(an answer key of their true boxes, looked up by the pixels), so its boxes mean exactly what Box
means, and every broken variant changes one thing about them. It cannot read the answers from the
frames: ``predict`` gets them without ground truth, as in `bench run`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random

from benchbench.api import Box, CellContext, Frame, FrameSet

ANSWERED = ((4, 48, 1), (8, 64, 1))  # (n, size, seed): tests/test_testing.py's and check_detector's test sets


def _pixels(f: Frame) -> str:
    return hashlib.sha256(f.load().tobytes()).hexdigest()


@functools.lru_cache(maxsize=1)
def answer_key() -> dict[str, tuple[Box, ...]]:
    """Pixel hash -> true boxes of every frame of the ANSWERED sets (rebuilt the same in any process)."""
    from benchbench.testing import tiny_frames

    return {_pixels(f): tuple(f.boxes or ()) for n, size, seed in ANSWERED
            for f in tiny_frames(n=n, size=size, seed=seed)}


class Oracle:
    """Conforming: learns the share of cracked training frames (saved in work_dir) and uses it as the
    score of the true boxes it reads from each frame."""

    name = "oracle"
    version = "1"

    def __init__(self):
        self.score: float | None = None

    def params(self):
        return {"score": self.score}

    def fit(self, train: FrameSet, val, ctx: CellContext) -> None:
        known = [f for f in train if f.boxes is not None]  # boxes None = unknown: skipped
        self.score = round(sum(1 for f in known if f.boxes) / len(known), 6)
        self._save(ctx)

    def _save(self, ctx: CellContext) -> None:
        (ctx.work_dir / "oracle.json").write_text(json.dumps(self.score))

    def _load(self, ctx: CellContext) -> float:
        return json.loads((ctx.work_dir / "oracle.json").read_text())

    def predict(self, frames: FrameSet, ctx: CellContext) -> list[list[Box]]:
        if self.score is None:
            self.score = self._load(ctx)
        return [[self.convert(b, f) for b in answer_key().get(_pixels(f), ())] for f in frames]

    def convert(self, b: Box, f: Frame) -> Box:
        return Box(b.x, b.y, b.w, b.h, score=self._score(f))

    def _score(self, f: Frame) -> float:
        return self.score


class XYXY(Oracle):
    def convert(self, b, f):
        return Box(b.x, b.y, b.x + b.w, b.y + b.h, self.score)


class Normalised(Oracle):
    def convert(self, b, f):
        return Box(b.x / f.width, b.y / f.height, b.w / f.width, b.h / f.height, self.score)


class Centred(Oracle):
    def convert(self, b, f):
        return Box(b.x + b.w / 2, b.y + b.h / 2, b.w, b.h, self.score)


class Swapped(Oracle):
    def convert(self, b, f):
        return Box(b.y, b.x, b.h, b.w, self.score)


class Reversed(Oracle):
    def predict(self, frames, ctx):
        return super().predict(frames, ctx)[::-1]


class Rotated(Oracle):
    def predict(self, frames, ctx):
        preds = super().predict(frames, ctx)
        return preds[1:] + preds[:1]


class Empty(Oracle):
    def predict(self, frames, ctx):
        super().predict(frames, ctx)
        return [[] for _ in frames]


class Corner(Oracle):
    """Learns nothing: one box in the top-left corner of every frame."""

    def predict(self, frames, ctx):
        super().predict(frames, ctx)
        return [[Box(0.0, 0.0, 4.0, 4.0, self.score)] for _ in frames]


class InMemory(Oracle):
    """Keeps its model in a class attribute: a reload in the same process works, a resumed run does not."""

    models: dict[str, float] = {}

    def _save(self, ctx):
        InMemory.models[str(ctx.work_dir)] = self.score

    def _load(self, ctx):
        return InMemory.models[str(ctx.work_dir)]


class NeedsBoxes(Oracle):
    """Assumes every training frame has a box tuple: crashes on a cracked frame with unknown boxes."""

    def fit(self, train, val, ctx):
        self.score = sum(len(f.boxes) for f in train) / len(train)
        self._save(ctx)


class TooFewLists(Oracle):
    def predict(self, frames, ctx):
        return super().predict(frames, ctx)[:-1]


class BadScore(Oracle):
    def _score(self, f):
        return 1.5


class Outside(Oracle):
    def predict(self, frames, ctx):
        return [[Box(f.width - 2.0, 0.0, 10.0, 10.0, 0.5)] for f in frames]


class NotFinite(Oracle):
    def predict(self, frames, ctx):
        return [[Box(float("nan"), 0.0, 1.0, 1.0, 0.5)] for f in frames]


class Unseeded(Oracle):
    def _score(self, f):
        return random.random()


class Forgetful(Oracle):
    def fit(self, train, val, ctx):
        super().fit(train, val, ctx)
        (ctx.work_dir / "oracle.json").unlink()  # keeps its model in memory only


class CrashesOnBlack(Oracle):
    def _score(self, f):
        mean = f.load().mean()
        if mean == 0:
            raise ZeroDivisionError("division by zero")
        return self.score

    def predict(self, frames, ctx):
        preds = super().predict(frames, ctx)
        for f in frames:
            self._score(f)
        return preds


class NoParams(Oracle):
    params = None


class Flat(Oracle):
    """Adds a zero-area box (w 0) to every frame: legal, but it matches nothing."""

    def predict(self, frames, ctx):
        return [boxes + [Box(1.0, 1.0, 0.0, 3.0, 0.0)] for boxes in super().predict(frames, ctx)]


class ThreadCount(Oracle):
    """Scores every box with torch's thread count, as a reduction's last bits depend on it."""

    def _score(self, f):
        import torch

        return 1.0 / torch.get_num_threads()
