"""BbClassDetector: a small, genuine detector with no torch — replace its insides with yours.

As generated, it reports the strongest vertical edges of the frame.

A crack in a flying-spot frame is a thin, roughly vertical thermal barrier: the image
shows a brightness step (or line) along it. The detector

1. takes the log-brightness (so the step does not depend on how hot the spot is),
2. measures the horizontal contrast ``|L(x+k) - L(x-k)|`` at a scale ``k``,
3. removes the smooth part (the spot's halo) with a wide horizontal mean,
4. averages vertically over a crack's height, and
5. reports the strongest columns as boxes of the typical crack size.

``fit`` learns everything from the training boxes: the scale ``k`` that best separates
cracked from sane frames, the averaging height and box size (medians of the training
boxes), and the score threshold and spread (the score is a logistic of the response).
The learned model is a JSON file in ``ctx.work_dir``; ``predict`` reads it back.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from benchbench.api import Box, CellContext, Frame, FrameSet, UserError, seed_everything
from scipy import ndimage as ndi

from bbpackage import __version__

MODEL_FILE = "model.json"


@dataclass(frozen=True)
class Learned:
    """What fit learns; saved as JSON (no pickle, readable, diffable)."""

    k: int  # half-width of the contrast kernel, px
    window: int  # vertical averaging height, px
    box_w: float
    box_h: float
    threshold: float  # response at which the score is 0.5
    spread: float  # response change that moves the score from 0.5 to ~0.73
    separation: float  # (mean pos - mean neg) / pooled std on the training frames, for the record
    n_train: int


class BbClassDetector:
    """Vertical-edge detector (numpy): learns scale, threshold and box size from the training boxes."""

    name = "bbname"
    version = __version__
    # Fitted in closed form, so the matrix's equal-steps budget has nothing to scale. A detector that
    # trains epochs sets this True, trains ctx.epochs_for(self.epochs, len(frames)) epochs and records
    # them with ctx.record_budget (`bench plugins new detector NAME --torch` writes one).
    trains_by_steps = False

    def __init__(self, scales: list[int] | tuple[int, ...] = (1, 2, 3), max_boxes: int = 3) -> None:
        # The factory validates cheaply and fails with a one-line UserError naming the field.
        if not scales or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in scales):
            raise UserError(f"scales must be a non-empty list of integers >= 1, got {scales!r}", field="scales")
        if isinstance(max_boxes, bool) or not isinstance(max_boxes, int) or max_boxes < 1:
            raise UserError(f"max_boxes must be an integer >= 1, got {max_boxes!r}", field="max_boxes")
        self.scales = tuple(sorted(set(scales)))
        self.max_boxes = max_boxes
        self._learned: Learned | None = None

    # ------------------------------------------------------------------ protocol
    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scales": list(self.scales), "max_boxes": self.max_boxes}
        if self._learned is not None:
            out["learned"] = asdict(self._learned)
        return out

    def fit(self, train: FrameSet, val: FrameSet | None, ctx: CellContext) -> None:
        seed_everything(ctx.seed)  # nothing random here yet: seed here once your fit draws random numbers
        frames = [f for f in train if f.boxes is not None]  # boxes None = unknown: cannot learn from them
        boxes = [b for f in frames for b in f.boxes or ()]
        if not boxes:
            raise UserError("the training frames carry no crack box to learn from", field="detectors.bbname",
                            fix="train on frames with boxes (cracked frames labelled)")
        box_w = float(np.median([b.w for b in boxes]))
        box_h = float(np.median([b.h for b in boxes]))
        window = max(3, round(box_h))
        best: tuple[float, int, np.ndarray, np.ndarray] | None = None
        for i, k in enumerate(self.scales):
            ctx.report(f"bbname fit k={k}", i / len(self.scales))
            pos, neg = _training_scores(frames, k, window, box_w)
            sep = _separation(pos, neg)
            if best is None or sep > best[0]:
                best = (sep, k, pos, neg)
        assert best is not None
        sep, k, pos, neg = best
        threshold, spread = _threshold(pos, neg)
        self._learned = Learned(k=k, window=window, box_w=box_w, box_h=box_h, threshold=threshold,
                                spread=spread, separation=round(sep, 4), n_train=len(frames))
        path = _model_path(ctx)
        path.write_text(json.dumps(asdict(self._learned), indent=1))
        ctx.record("bbname", asdict(self._learned))
        ctx.record_budget(epochs=1, steps=0, images=len(frames))  # one pass, no optimizer step
        ctx.report("bbname fit", 1.0)

    def predict(self, frames: FrameSet, ctx: CellContext) -> list[list[Box]]:
        learned = self._load(ctx)
        return [self._detect(frame, learned) for frame in frames]

    # ------------------------------------------------------------------ helpers
    def _load(self, ctx: CellContext) -> Learned:
        if self._learned is None:  # not fitted in this process: read what fit saved
            path = _model_path(ctx)
            if not path.exists():
                raise UserError(f"no trained model at {path}", field="detectors.bbname", fix="run fit first")
            self._learned = Learned(**json.loads(path.read_text()))
        return self._learned

    def _detect(self, frame: Frame, m: Learned) -> list[Box]:
        resp = response(_grey(frame), m.k, m.window)
        h, w = resp.shape
        col_best = resp.max(axis=0)
        row_best = resp.argmax(axis=0)
        out: list[Box] = []
        taken = np.zeros(w, bool)
        for x in np.argsort(-col_best, kind="stable"):
            if len(out) == self.max_boxes or col_best[x] <= 0:
                break
            if taken[x]:
                continue
            lo, hi = max(0, int(x - m.box_w)), min(w, int(x + m.box_w) + 1)
            taken[lo:hi] = True  # one box per edge: suppress neighbouring columns
            bw, bh = min(m.box_w, w), min(m.box_h, h)
            bx = float(np.clip(x + 0.5 - bw / 2, 0, w - bw))
            by = float(np.clip(row_best[x] + 0.5 - bh / 2, 0, h - bh))
            score = 1.0 / (1.0 + math.exp(-(float(col_best[x]) - m.threshold) / m.spread))
            out.append(Box(bx, by, bw, bh, score=score))
        return out


def response(grey: np.ndarray, k: int, window: int) -> np.ndarray:
    """Vertical-edge response (H x W): high-passed horizontal log contrast, averaged over ``window`` rows."""
    log = np.log1p(grey.astype(np.float32))
    h, w = log.shape
    contrast = np.zeros_like(log)
    if w > 2 * k:
        contrast[:, k:w - k] = np.abs(log[:, 2 * k:] - log[:, :w - 2 * k])
    detail = contrast - ndi.uniform_filter1d(contrast, 8 * k + 1, axis=1, mode="nearest")
    return ndi.uniform_filter1d(detail, min(window, h), axis=0, mode="nearest")


def _grey(frame: Frame) -> np.ndarray:
    return frame.load().astype(np.float32).mean(axis=2)


def _training_scores(frames: list[Frame], k: int, window: int, box_w: float) -> tuple[np.ndarray, np.ndarray]:
    """Best response on each crack (inside its box columns) and best response away from any crack."""
    pos, neg = [], []
    for frame in frames:
        resp = response(_grey(frame), k, window)
        cols = resp.max(axis=0)
        near = np.zeros(cols.shape, bool)
        for b in frame.boxes or ():
            lo, hi = max(0, int(b.x) - 2), min(cols.size, int(math.ceil(b.x + b.w)) + 2)
            if hi > lo:
                pos.append(float(cols[lo:hi].max()))
            near[max(0, int(b.x - box_w)):int(math.ceil(b.x + b.w + box_w))] = True
        if (~near).any():
            neg.append(float(cols[~near].max()))
    return np.asarray(pos), np.asarray(neg)


def _separation(pos: np.ndarray, neg: np.ndarray) -> float:
    if pos.size == 0 or neg.size == 0:
        return float(pos.mean()) if pos.size else 0.0
    pooled = math.sqrt((pos.var() + neg.var()) / 2) or 1e-6
    return float((pos.mean() - neg.mean()) / pooled)


def _threshold(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """Threshold with the best balanced accuracy on the training scores, and a logistic spread."""
    if neg.size == 0:
        return float(pos.min()), float(pos.std() or 1e-3)
    candidates = np.unique(np.concatenate([pos, neg]))
    acc = [((pos >= t).mean() + (neg < t).mean()) / 2 for t in candidates]
    best = int(np.argmax(acc))
    # Midway between the best cut and the training score just below it: same split, no tie.
    t = float(candidates[best] if best == 0 else (candidates[best] + candidates[best - 1]) / 2)
    spread = float(math.sqrt((pos.var() + neg.var()) / 2)) or 1e-3
    return t, spread / 2


def _model_path(ctx: CellContext) -> Path:
    folder = Path(ctx.work_dir) / "bbname"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / MODEL_FILE
