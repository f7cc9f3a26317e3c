"""Detector ``classic``: a physics-informed, learning-free crack detector (numpy/scipy, no torch).

Why it works (see docs/data.md): in flying-spot thermography a crack is a thermal barrier, so the
side of the crack away from the laser spot is cooler. A crack therefore shows as a thin, roughly
vertical brightness *step* whose bright side faces the spot. The detector:

1. works on log intensity, so that steps are relative (independent of camera gain and emissivity);
2. finds the spot (the temperature maximum) and the specimen band (bright region; background,
   holes and notches are excluded);
3. computes a horizontal step response that ignores linear ramps (the spot halo), signed so that
   only steps whose bright side faces the spot count (emissivity edges of the other polarity and
   the halo's own gradient drop out);
4. integrates it along near-vertical lines, thresholds with hysteresis, and turns each connected
   component into a box, scored by its integrated step, boosted when a notch sits at its top end.

``fit`` picks its six parameters on the training frames (grid search for the best mean COCO AP at
IoU 0.1, 0.3 and 0.5) and saves them to ``work_dir/classic.json``; ``predict`` loads that file
when the detector was not fitted in the same process.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from benchbench.errors import UserError
from benchbench.frames import Box, Frame, FrameSet
from benchbench.protocols import CellContext

VERSION = "1.0.0"
PARAMS_FILE = "classic.json"


@dataclass(frozen=True)
class ClassicParams:
    high: float = 0.04  # seed threshold on the line-integrated signed log step
    low_ratio: float = 0.5  # hysteresis: components grow down to high * low_ratio
    tail: float = 0.35  # rows weaker than tail x the line's median step are its faded ends: trimmed
    wiggle: float = 0.5  # how much of the path's wander widens the box
    min_height: int = 10  # px: shorter responses are texture, not cracks
    notch_boost: float = 1.0  # score multiplier gained when a notch sits on the top edge above the line
    line_len: int = 9  # px of vertical integration
    max_boxes: int = 5


@dataclass
class _Maps:
    """Per-frame intermediate maps, computed once and reused across the fitting grid."""

    line: np.ndarray  # line-integrated signed step (>= 0)
    step: np.ndarray  # signed step before integration (x-max-filtered)
    grey: np.ndarray  # smoothed grey level
    band_level: float
    spot: tuple[int, int]


def _grey(frame: Frame) -> np.ndarray:
    return frame.load().astype(np.float32).mean(axis=2)


def _step_kernel(k: int) -> np.ndarray:
    # mean of k pixels right minus mean of k pixels left, centred between pixels x and x+1
    return np.concatenate([-np.ones(k), np.ones(k)]) / k


def compute_maps(img: np.ndarray, line_len: int = 9) -> _Maps:
    """The signed, ramp-free step map of a grey frame and what the boxes need."""
    g = ndi.gaussian_filter(img, 0.8)
    h, w = g.shape
    sy, sx = np.unravel_index(int(np.argmax(ndi.gaussian_filter(img, 1.5))), g.shape)
    # Specimen band: brighter than 45% of the way from the dark background (p5) to the plate (p95).
    lo, hi = np.percentile(g, [5, 95])
    thr = lo + 0.45 * (hi - lo)
    band = g > thr
    dark = ~band
    # Holes are thermal barriers too: the plate beside them shows a crack-like step. Mask a wide
    # margin around dark blobs that are not the background above/below the plate (holes: roundish).
    lab, n = ndi.label(dark)
    for i, sl in enumerate(ndi.find_objects(lab), start=1):
        bh, bw = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
        if bw < 0.8 * w and bh > 12 and bw > 12:
            blob = np.zeros_like(dark)
            blob[sl] = lab[sl] == i
            band &= ~ndi.binary_dilation(blob, iterations=6)
    band = ndi.binary_erosion(band, iterations=3)  # drop edges of the plate and notches
    band_level = float(np.median(g[band])) if band.any() else float(hi)
    logi = np.log(np.maximum(g, 1.0))
    # Ramp-free step: narrow step minus the ramp part estimated from a wide step (zero for a linear ramp).
    d2 = ndi.correlate1d(logi, _step_kernel(2), axis=1, mode="nearest", origin=-1)
    d6 = ndi.correlate1d(logi, _step_kernel(6), axis=1, mode="nearest", origin=-1)
    d = (7.0 * d2 - 3.0 * d6) / 4.0  # response at the boundary between x and x+1
    xs = np.arange(w, dtype=np.float32)[None, :] + 0.5
    # Bright side towards the spot: the intensity falls when moving away from the spot.
    signed = -d * np.sign(xs - sx)
    signed[~band] = 0.0
    yy, xx = np.ogrid[:h, :w]
    signed[(yy - sy) ** 2 + (xx - sx) ** 2 < 7.0**2] = 0.0  # halo curvature near the spot is not a step
    signed = np.maximum(signed, 0.0)
    # Narrow lines need an undiluted response: use the 1-px-wide maximum before vertical integration,
    # which tolerates a few degrees of tilt and a wiggly path.
    step = ndi.maximum_filter1d(signed, 3, axis=1)
    line = ndi.uniform_filter1d(step, line_len, axis=0, mode="constant")
    return _Maps(line, step, g, band_level, (int(sy), int(sx)))


def _notch_score(m: _Maps, x: float, y_top: int) -> float:
    """How dark the plate edge is right above the line top (a V notch), 0..1."""
    h, w = m.grey.shape
    x0, x1 = int(max(0, x - 3)), int(min(w, x + 4))
    y0, y1 = int(max(0, y_top - 14)), int(max(0, y_top - 1))
    if y1 <= y0 or x1 <= x0:
        return 0.0
    col = m.grey[y0:y1, x0:x1].min(axis=1)  # darkest pixel per row just above the line
    side = np.concatenate([m.grey[y0:y1, max(0, x0 - 8):max(0, x0 - 4)].ravel(),
                           m.grey[y0:y1, min(w, x1 + 4):min(w, x1 + 8)].ravel()])
    if side.size == 0:
        return 0.0
    # A notch: rows where the line's column is much darker than the plate beside it.
    contrast = (np.median(side) - col) / max(m.band_level, 1.0)
    return float(np.clip(contrast.max() / 0.4, 0.0, 1.0))


@dataclass(frozen=True)
class _Candidate:
    """One connected line response: per-row step strength and position (threshold-independent rest)."""

    rows: np.ndarray  # image rows
    strength: np.ndarray  # max signed step in the row
    centre: np.ndarray  # step-weighted column of the boundary (edge coordinates)


def candidates(m: _Maps, high: float, low_ratio: float, line_len: int) -> list[_Candidate]:
    """Hysteresis components of the line map, described row by row."""
    seeds = m.line > high
    if not seeds.any():
        return []
    lab, _ = ndi.label(m.line > high * low_ratio, structure=np.ones((3, 3), bool))
    keep = set(np.unique(lab[seeds]).tolist()) - {0}
    half = line_len // 2
    out = []
    for i, sl in enumerate(ndi.find_objects(lab), start=1):
        if sl is None or i not in keep:
            continue
        comp = lab[sl] == i
        rows = np.flatnonzero(comp.any(axis=1))
        r0, r1 = rows[0] + half, rows[-1] - half + 1  # the vertical integration spread the line by `half`
        if r1 - r0 < 3:
            continue
        step = np.where(comp, m.step[sl], 0.0)[r0:r1]
        strength = step.max(axis=1)
        wsum = step.sum(axis=1)
        cols = np.arange(sl[1].start, sl[1].stop, dtype=np.float64) + 1.0  # boundary right of column x
        centre = np.divide(step @ cols, wsum, out=np.full(len(step), np.nan), where=wsum > 0)
        out.append(_Candidate(np.arange(sl[0].start + r0, sl[0].start + r1), strength, centre))
    return out


def _median(a: np.ndarray) -> float:
    # np.median's overhead dominates on these short arrays (called thousands of times when fitting)
    srt = np.sort(a)
    return float(srt[srt.size // 2])


def finalize(c: _Candidate, m: _Maps, p: ClassicParams) -> _Line | None:
    """Trim the faded ends, fit the line, and make the box FLYD-S masks would give (3 px wide line)."""
    ok = c.strength > 0
    if ok.sum() < 3:
        return None
    keep = ok & (c.strength >= p.tail * _median(c.strength[ok]))
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        return None
    # Longest run of kept rows, bridging gaps of up to 2 rows.
    breaks = np.flatnonzero(idx[1:] - idx[:-1] > 3)
    starts, ends = np.r_[0, breaks + 1], np.r_[breaks, idx.size - 1]
    k = int(np.argmax(idx[ends] - idx[starts]))
    a, b = idx[starts[k]], idx[ends[k]] + 1
    if b - a < p.min_height:
        return None
    y, x, wt = c.rows[a:b].astype(float), c.centre[a:b], c.strength[a:b]
    good = np.isfinite(x)
    y, x, wt = y[good], x[good], wt[good]
    if y.size < 3:
        return None
    # Weighted least-squares line x = icpt + slope * y (closed form: polyfit is slow on tiny arrays).
    sw = wt.sum()
    my, mx = (wt * y).sum() / sw, (wt * x).sum() / sw
    vy = (wt * (y - my) ** 2).sum()
    slope = float((wt * (y - my) * (x - mx)).sum() / vy) if vy > 0 else 0.0
    slope = min(max(slope, -0.3), 0.3)  # cracks are within ~15 degrees of vertical
    icpt = mx - slope * my
    # How far the path wanders from the line: the largest deviation of the lightly smoothed path.
    smooth = np.median(np.stack([np.r_[x[0], x[:-1]], x, np.r_[x[1:], x[-1]]]), axis=0)
    wig = min(float(np.abs(smooth - (icpt + slope * y)).max()), 4.0)
    y0, y1 = float(c.rows[a]), float(c.rows[b - 1] + 1)
    xa, xb = icpt + slope * y0, icpt + slope * y1
    return _Line(y0, y1, xa, xb, wig, float(sw), _notch_score(m, 0.5 * (xa + xb), int(y0)))


@dataclass(frozen=True)
class _Line:
    y0: float
    y1: float
    xa: float  # boundary column at y0
    xb: float  # boundary column at y1
    wig: float  # how far the path wanders from the straight line (px)
    step: float  # the signed log step integrated along the line
    notch: float  # 0..1: how clearly a notch sits on the plate edge above the line

    def score(self, p: ClassicParams) -> float:
        return self.step * (1.0 + p.notch_boost * self.notch)

    def box(self, p: ClassicParams, width: int, height: int) -> Box:
        # FLYD-S masks draw the crack 3 px wide around its path: the box spans the path +- 1.5 px.
        pad = 1.5 + p.wiggle * self.wig
        x0 = max(0.0, min(self.xa, self.xb) - pad)
        x1 = min(float(width), max(self.xa, self.xb) + pad)
        s = self.score(p)
        return Box.from_xyxy(x0, self.y0, x1, min(float(height), self.y1), score=s / (s + 1.0))


def lines_from_maps(m: _Maps, p: ClassicParams, cands: list[_Candidate] | None = None) -> list[_Line]:
    if cands is None:
        cands = candidates(m, p.high, p.low_ratio, p.line_len)
    out = [ln for c in cands if c.rows.size >= p.min_height and (ln := finalize(c, m, p)) is not None]
    out.sort(key=lambda ln: -ln.score(p))
    return out


def boxes_from_maps(m: _Maps, p: ClassicParams) -> list[Box]:
    h, w = m.line.shape
    return [ln.box(p, w, h) for ln in lines_from_maps(m, p)[: p.max_boxes]]


def detect(img: np.ndarray, p: ClassicParams | None = None) -> list[Box]:
    p = p or ClassicParams()
    return boxes_from_maps(compute_maps(img, p.line_len), p)


# --------------------------------------------------------------------------- fitting
def _coco_ap(tp: np.ndarray, scores: np.ndarray, n_gt: int) -> float:
    """AP as COCO computes it (101 recall points, precision envelope) for one IoU threshold."""
    if n_gt == 0:
        return 0.0
    order = np.argsort(-scores, kind="mergesort")
    tps = np.cumsum(tp[order])
    fps = np.cumsum(~tp[order])
    recall = tps / n_gt
    precision = np.maximum.accumulate((tps / np.maximum(tps + fps, 1))[::-1])[::-1]
    idx = np.searchsorted(recall, np.linspace(0, 1, 101), side="left")
    return float(np.where(idx < precision.size, precision[np.minimum(idx, precision.size - 1)], 0.0).mean())


def _grid_scores(lines: list[list[_Line]], gts: list[tuple[Box, ...]], sizes: list[tuple[int, int]],
                 p: ClassicParams, grid: dict[str, tuple[float, ...]], ious: tuple[float, ...]) -> dict[tuple, float]:
    """Mean AP over ``ious`` for every (min_height, wiggle, notch_boost) of ``grid``, all frames at once.

    Matching is COCO's greedy one, per frame in score order, exact when a frame has at most one
    crack (FLYD: always); with several cracks a prediction counts if it is the first to hit any.
    """
    n = len(lines)
    fi = np.array([i for i, lns in enumerate(lines) for _ in lns], dtype=np.int64)
    n_gt = sum(len(g) for g in gts)
    keys = [(h, w, b) for h in grid["min_height"] for w in grid["wiggle"] for b in grid["notch_boost"]]
    if fi.size == 0:
        return dict.fromkeys(keys, 0.0)
    arr = np.array([[ln.y0, ln.y1, min(ln.xa, ln.xb), max(ln.xa, ln.xb), ln.wig, ln.step, ln.notch]
                    for lns in lines for ln in lns])
    width = np.array([sizes[i][0] for i in fi], float)
    height = np.array([sizes[i][1] for i in fi], float)
    gt = np.full((n, max(max((len(g) for g in gts), default=0), 1), 4), np.nan)
    for i, g in enumerate(gts):
        for j, b in enumerate(g):
            gt[i, j] = b.xyxy()
    out = {}
    for min_h in grid["min_height"]:
        tall = arr[:, 1] - arr[:, 0] >= min_h
        # only the frame's max_boxes strongest tall lines are predictions
        keep = tall.copy()
        for i in np.unique(fi[tall]):
            sel = np.flatnonzero((fi == i) & tall)
            if sel.size > p.max_boxes:
                keep[sel[np.argsort(-arr[sel, 5])[p.max_boxes:]]] = False
        k_fi, k, k_w, k_h = fi[keep], arr[keep], width[keep], height[keep]
        g = gt[k_fi]  # (P, G, 4)
        for wig in grid["wiggle"]:
            pad = 1.5 + wig * k[:, 4]
            x0, x1 = np.maximum(0.0, k[:, 2] - pad), np.minimum(k_w, k[:, 3] + pad)
            y0, y1 = k[:, 0], np.minimum(k_h, k[:, 1])
            iw = np.clip(np.minimum(x1[:, None], g[..., 2]) - np.maximum(x0[:, None], g[..., 0]), 0, None)
            ih = np.clip(np.minimum(y1[:, None], g[..., 3]) - np.maximum(y0[:, None], g[..., 1]), 0, None)
            inter = iw * ih
            union = ((x1 - x0) * (y1 - y0))[:, None] + (g[..., 2] - g[..., 0]) * (g[..., 3] - g[..., 1]) - inter
            iou = np.nan_to_num(inter / np.where(union > 0, union, np.inf))
            for boost in grid["notch_boost"]:
                score = k[:, 5] * (1.0 + boost * k[:, 6])
                order = np.lexsort((-score, k_fi))  # by frame, strongest first
                aps = []
                for t in ious:
                    hit = iou[order] >= t
                    # first hitter of each gt within its frame (cumulative hits before it are zero)
                    fo = k_fi[order]
                    before = np.zeros_like(hit, dtype=np.int64)
                    for j in range(hit.shape[1]):
                        c = np.cumsum(hit[:, j])
                        start = np.r_[0, np.flatnonzero(np.diff(fo)) + 1]
                        base = np.repeat(c[start] - hit[start, j], np.diff(np.r_[start, fo.size]))
                        before[:, j] = c - hit[:, j] - base
                    tp_sorted = (hit & (before == 0)).any(axis=1)
                    tp = np.empty_like(tp_sorted)
                    tp[order] = tp_sorted
                    aps.append(_coco_ap(tp, score, n_gt))
                out[(min_h, wig, boost)] = sum(aps) / len(aps)
    return out


def fit_params(frames: FrameSet, max_frames: int = 300, seed: int = 0) -> ClassicParams:
    """Grid-search the thresholds on frames with boxes (frames with boxes=None are ignored).

    The objective is the mean COCO AP at IoU 0.1, 0.3 and 0.5 on these frames: it rewards finding
    cracks, ranking them above texture, and drawing their boxes tightly.
    """
    usable = [f for f in frames if f.boxes is not None]
    if not usable:
        raise UserError("no training frames with boxes: the classic detector cannot fit its thresholds",
                        fix="train on a layout with boxes (yolo, coco, masks) or the simulated data")
    if len(usable) > max_frames:  # maps cost a few ms per frame: a sample pins the thresholds well enough
        idx = np.random.default_rng(seed).choice(len(usable), max_frames, replace=False)
        usable = [usable[i] for i in sorted(idx)]
    base = ClassicParams()
    maps = [compute_maps(_grey(f), base.line_len) for f in usable]
    gts = [tuple(f.boxes or ()) for f in usable]
    sizes = [(m.line.shape[1], m.line.shape[0]) for m in maps]
    grid = {"min_height": (6, 10, 16, 24), "wiggle": (0.0, 0.5, 1.0), "notch_boost": (0.0, 1.0, 3.0, 10.0)}
    best, best_obj = base, -1.0
    for high in (0.02, 0.03, 0.04, 0.05, 0.065, 0.08):
        for low_ratio in (0.35, 0.6):
            cands = [candidates(m, high, low_ratio, base.line_len) for m in maps]
            for tail in (0.2, 0.35, 0.5):
                # min_height only filters, wiggle only widens, notch_boost only reorders: one line fit for all.
                p0 = replace(base, high=high, low_ratio=low_ratio, tail=tail, min_height=grid["min_height"][0])
                lines = [lines_from_maps(m, p0, c) for m, c in zip(maps, cands, strict=True)]
                scores = _grid_scores(lines, gts, sizes, base, grid, (0.1, 0.3, 0.5))
                for (min_height, wiggle, boost), obj in sorted(scores.items()):
                    if obj > best_obj + 1e-9:
                        best, best_obj = replace(p0, min_height=min_height, wiggle=wiggle, notch_boost=boost), obj
    return best


class ClassicDetector:
    """Detector protocol implementation; see the module docstring."""

    name = "classic"
    version = VERSION

    def __init__(self, score_threshold: float | None = None, max_fit_frames: int = 300, **params: float):
        self.score_threshold = score_threshold
        self.max_fit_frames = int(max_fit_frames)
        self._overrides = {k: v for k, v in params.items() if k in ClassicParams.__dataclass_fields__}
        unknown = sorted(set(params) - set(self._overrides))
        if unknown:
            options = ["score_threshold", "max_fit_frames", *ClassicParams.__dataclass_fields__]
            raise UserError(f"unknown classic detector option(s) {unknown}", field="detectors",
                            fix="options: " + ", ".join(options))
        self.fitted: ClassicParams | None = None

    def params(self) -> dict[str, Any]:
        """Hyper-parameters as configured (the fitted thresholds are recorded in the cell's info)."""
        return {"score_threshold": self.score_threshold, "max_fit_frames": self.max_fit_frames, **self._overrides}

    def fit(self, train: FrameSet, val: FrameSet | None, ctx: CellContext) -> None:
        ctx.report("fit thresholds", 0.0)
        p = fit_params(train, self.max_fit_frames, seed=ctx.seed)
        self.fitted = ClassicParams(**{**asdict(p), **self._overrides})
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        (ctx.work_dir / PARAMS_FILE).write_text(json.dumps(asdict(self.fitted), indent=1, sort_keys=True) + "\n")
        ctx.record("classic_params", asdict(self.fitted))
        ctx.report("fit thresholds", 1.0)

    def _load(self, work_dir: Path) -> ClassicParams:
        path = work_dir / PARAMS_FILE
        if not path.is_file():
            raise UserError("classic detector is not fitted", file=path, fix="run fit() first (the harness does)")
        return ClassicParams(**json.loads(path.read_text()))

    def predict(self, frames: FrameSet, ctx: CellContext) -> list[list[Box]]:
        p = self.fitted or self._load(ctx.work_dir)
        out = []
        for i, f in enumerate(frames):
            boxes = detect(_grey(f), p)
            if self.score_threshold is not None:
                boxes = [b for b in boxes if b.score >= self.score_threshold]
            out.append(boxes)
            if i % 50 == 0:
                ctx.report("predict", i / max(len(frames), 1))
        return out
