"""Physics flying-spot thermography simulator: FLYD-shaped frames with exact crack boxes.

What a frame is (calibrated on the real FLYD-S train+val frames, numbers in docs/data.md):
a camera crop centred on the temperature maximum, i.e. on the laser spot, showing a dark
background, the bright specimen band with straight edges, the small saturated spot and, on
cracked frames, a notch on the top edge with a thin near-vertical crack running down from it.

Radiance of the band = emissivity x (ambient + accumulated scan heat + moving-spot halo):
  * the spot halo is the quasi-steady moving point source (Rosenthal):
    dT ~ exp(-Pe (xi + rho)) / (rho + r0), xi along the scan, which matches the 1/r fall-off
    measured around real spots;
  * the accumulated heat of the scan is a broad field exp(-rho / L);
  * a crack is a thin thermal barrier (strength beta from its opening) that confines the scan
    heat to the spot's side: the far side is darker by beta (the brightness step that real
    cracks show); past the visible tip the step blurs in a widening diffusion cone, so the field
    stays continuous there; an open crack is also a small cavity (a faint brighter line);
  * emissivity: smooth texture, smudges, scratches and, as distractor, paint boundaries.
Then holes, notches, vignetting, optical blur and glare, a lens ghost, sensor noise and 8-bit
quantisation (the spot saturates).

Every frame depends only on (seed, label, index): prefixes nest and reruns are identical.
Specimens (groups) have their own parameters, drawn from (seed, specimen index).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from benchbench.data.export import export_coco, export_yolo
from benchbench.errors import UserError
from benchbench.frames import Box, Frame, FrameSet, Label
from benchbench.hashing import sha256_json

VERSION = "1.0.0"
N_SPECIMENS = 8
REAL_SIZES = (80, 120, 150, 220)  # crop sizes seen in FLYD-S (the largest ones are ~206x220)
LAYOUTS = ("classes", "yolo", "coco", "masks")
LABEL_CODE = {"sane": 0, "crack": 1}
MIN_SIZE = 32  # px: below this the notch, the spot and an 18 px crack do not fit in a crop
CRACK_THICKNESS = 3  # px: the width of a crack line in the FLYD-S masks (their narrowest boxes are 3 px)
# Bounds (docs/matrix.md): every frame is held in memory, so n and size are checked before any is drawn.
MAX_N = 100_000
MAX_SIZE = 1024  # px; FLYD-S crops are at most 220
MAX_BYTES = 4 * 2**30  # pixels of all frames together (n x size^2 x 3 bytes)


# --------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class Specimen:
    """One simulated specimen (a group): the plate, the optics and the scan settings."""

    name: str
    level: float  # grey level of the band far (~50 px) from the spot
    background: float  # grey level outside the specimen (above it)
    holder: float  # extra grey level of the fixture seen below the specimen
    ambient: float  # share of the far-band radiance that is not scan heat
    heat_len: float  # diffusion length of the accumulated scan heat (px)
    halo: float  # spot halo amplitude A of A / (r + r0), relative to the far band (px)
    core: float  # peak of the Gaussian laser spot itself, relative to the far band
    peclet: float  # v / 2 alpha (1/px): elongation of the halo behind the moving spot
    scan_dir: int  # +1: the spot moves down the image, -1: up
    spot_radius: float  # r0 of the halo A / (r + r0): sets the size of the saturated spot (px)
    cone: float  # past the visible tip the shadow edge blurs by this many px per px (diffusion cone)
    edge_depth: float  # mean distance from the spot down from the top edge (px)
    band_height: float  # specimen width in the image (px)
    roughness: float  # emissivity texture amplitude
    barrier: float  # barrier strength of a crack of median opening (0 open to heat .. 1 perfect insulator)
    tortuosity: float  # lateral random walk of the crack path (px per 2 px step)
    noise: float  # sensor noise sigma at the band level (grey levels)
    vignette: float  # relative darkening at the crop corners
    ghost: tuple[float, float, float]  # lens ghost of the spot: dx, dy (px), amplitude
    hole_rate: float  # probability that a frame shows a hole


@lru_cache(maxsize=256)
def specimen(seed: int, k: int) -> Specimen:
    """The parameters of simulated specimen k (1-based) for a seed."""
    rng = np.random.default_rng([_u64(seed), 0x5BEC, k])
    # Ranges bracket the per-specimen medians measured on FLYD-S Sample1-5,8 (docs/data.md).
    ghost_amp = float(rng.uniform(0.08, 0.25)) if rng.random() < 0.5 else 0.0
    return Specimen(
        name=f"Sample{k}",
        level=float(86 * math.exp(rng.normal(0, 0.08))),
        background=float(2.0 + rng.gamma(1.2, 3.5)),
        holder=float(rng.uniform(0, 25)),
        ambient=float(rng.uniform(0.45, 0.65)),
        heat_len=float(rng.uniform(300, 600)),
        halo=float(rng.uniform(2.6, 3.4)),
        core=float(rng.uniform(1.2, 1.8)),
        peclet=float(rng.choice([0.004, 0.012])) * float(rng.uniform(0.8, 1.25)),
        scan_dir=int(rng.choice([-1, 1])),
        spot_radius=float(rng.uniform(1.3, 1.8)),
        cone=float(rng.uniform(1.0, 2.0)),
        edge_depth=float(rng.uniform(18, 32)),
        band_height=float(rng.uniform(95, 135)),
        roughness=float(rng.uniform(0.015, 0.045)),
        barrier=float(rng.uniform(0.35, 0.6)),
        tortuosity=float(rng.uniform(0.15, 0.6)),
        noise=float(rng.uniform(0.2, 0.8)),
        vignette=float(rng.uniform(0.02, 0.12)),
        ghost=(float(rng.uniform(-16, 16)), float(rng.uniform(-22, -10)), ghost_amp),
        hole_rate=float(rng.uniform(0.05, 0.3)),
    )


def _u64(seed: int) -> int:
    # SeedSequence needs non-negative entropy; negative seeds map to distinct values.
    return int(seed) % (1 << 63)


@dataclass(frozen=True)
class FrameParams:
    """Everything needed to render one frame (JSON-able, kept in Frame.meta["sim"])."""

    seed: int
    width: int
    height: int
    specimen: int
    spot: tuple[float, float]
    edge_top: float  # y of the top edge at the spot column
    edge_tilt: float  # dy/dx of the edges
    band_height: float
    gain: float  # frame-to-frame exposure change
    crack: tuple[tuple[float, float], ...] | None  # polyline from the notch tip down to the crack tip
    opening: float  # crack opening (um): sets the barrier strength and the cavity brightening
    barrier: float
    notch: tuple[float, float, float] | None  # x, depth, half-width
    holes: tuple[tuple[float, float, float], ...]
    end: tuple[float, int] | None  # x of the specimen's end and which side (+1: the plate is left of it)
    em_edge: tuple[float, float, float] | None  # x at the spot row, slope dx/dy, relative step
    smudges: tuple[tuple[float, float, float, float], ...]  # x, y, sigma, amplitude
    scratches: tuple[tuple[float, float, float], ...]  # y at x=0, slope, amplitude
    noise_seed: int


def frame_params(seed: int, label: Label, index: int, size: int | tuple[int, int] = 128,
                 difficulty: float = 1.0, *, lengths: tuple[float, ...] | None = None,
                 paths: tuple[tuple[tuple[float, float], ...], ...] | None = None) -> FrameParams:
    """Draw the scene of frame ``index`` of class ``label``: depends on nothing else.

    Calibrated from real frames (``PhysicsGenerator.calibrate``): ``lengths`` replaces the crack length
    distribution by these crack heights (px; the same draw, mapped through their quantiles), ``paths``
    replaces the drawn crack by one of these polylines (px from the crop centre, jittered per frame).
    Without them a scene is what it was before calibration existed.
    """
    rng = np.random.default_rng([_u64(seed), LABEL_CODE[label], int(index), 0xF1A])
    w, h = (size, size) if isinstance(size, int) else size
    if min(w, h) < MIN_SIZE:
        raise UserError(f"frame size {w}x{h} is too small to show a crack", field="size",
                        fix=f"use at least {MIN_SIZE} px (FLYD-S frames are 80-220 px)")
    k = int(rng.integers(1, N_SPECIMENS + 1))
    sp = specimen(seed, k)
    # The crop is centred on the temperature maximum; large real crops sit ~8% higher.
    off = -0.08 * h if h >= 180 else 0.0
    sx = w / 2 + float(rng.uniform(-0.5, 0.5))
    sy = h / 2 + off + float(rng.normal(0, 0.5 + max(0.0, h - 150) / 20))
    edge_top = sy - min(max(float(rng.normal(sp.edge_depth, 8)), 8.0), 45.0)
    tilt = float(rng.normal(0, 0.01))
    band_h = float(sp.band_height * rng.uniform(0.93, 1.07))
    faint = difficulty * 0.25
    crack = notch = None
    barrier = opening = 0.0
    if label == "crack":
        crack, notch = _draw_crack(rng, sp, w, h, sx, sy, edge_top, tilt, band_h, lengths)
        if paths:
            crack, notch = _real_crack(seed, index, paths, w, h, notch)
            edge_top = crack[0][1] - notch[1] - tilt * (crack[0][0] - sx)  # the crack grows from the top edge
        # Opening (um, median 5) -> barrier 1 - exp(-opening / ref), ref set so that the median opening
        # gives the specimen's barrier. Faint cracks are nearly closed (0.5-2 um).
        closed = rng.random() < faint
        opening = float(rng.uniform(0.5, 2.0)) if closed else float(5.0 * math.exp(rng.normal(0, 0.45)))
        ref = 5.0 / -math.log(1.0 - sp.barrier)
        barrier = min(1.0 - math.exp(-opening / ref), 0.9)
    elif rng.random() < 0.08 * difficulty:
        # Distractor: a machining notch with no crack grown from it.
        nx = float(rng.uniform(6, w - 6))
        notch = (nx, float(rng.uniform(5, 9)), float(rng.uniform(2.5, 4.5)))
    holes = []
    if rng.random() < sp.hole_rate:
        r = float(rng.uniform(10, 17))
        hx = float(rng.choice([-1, 1]) * rng.uniform(r + 10, w / 2 + r * 0.7) + sx)
        hy = min(max(edge_top + float(rng.uniform(0.35, 0.65)) * band_h, 0.0), float(h))
        holes.append((hx, hy, r))
    end = None
    if w >= 150 and rng.random() < 0.15:
        side = int(rng.choice([-1, 1]))
        end = (float(sx + side * rng.uniform(40, w / 2 + 10)), side)
    em_edge = None
    if rng.random() < 0.3 * difficulty:
        # Distractor: a straight paint/oxide boundary that also makes a vertical brightness step.
        ex = float(sx + rng.choice([-1, 1]) * rng.uniform(6, w / 2 - 4))
        em_edge = (ex, float(rng.normal(0, 0.08)), float(rng.choice([-1, 1]) * rng.uniform(0.03, 0.12)))
    smudges = tuple((float(rng.uniform(0, w)), float(rng.uniform(edge_top, edge_top + band_h)),
                     float(rng.uniform(2, 7)), float(rng.normal(0, 0.06)))
                    for _ in range(int(rng.poisson(1.5 * difficulty))))
    scratches = tuple((float(rng.uniform(edge_top, edge_top + band_h)), float(rng.normal(0, 0.05)),
                       float(rng.normal(0, 0.025))) for _ in range(int(rng.poisson(1.0))))
    # FLYD-S band levels vary ~+-25% within a specimen (p10-p90 60-118 grey): exposure per frame.
    gain = min(max(math.exp(float(rng.normal(0, 0.22))), 0.5), 2.2)
    return FrameParams(
        seed=int(seed), width=w, height=h, specimen=k, spot=(sx, sy), edge_top=edge_top, edge_tilt=tilt,
        band_height=band_h, gain=gain, crack=crack, opening=opening, barrier=barrier, notch=notch,
        holes=tuple(holes), end=end, em_edge=em_edge, smudges=smudges, scratches=scratches,
        noise_seed=int(rng.integers(0, 2**62)),
    )


def _draw_crack(rng: np.random.Generator, sp: Specimen, w: int, h: int, sx: float, sy: float,
                edge_top: float, tilt: float, band_h: float, lengths: tuple[float, ...] | None = None):
    """A crack polyline from a notch on the top edge, and the notch (x, depth, half-width)."""
    margin = 5.0
    side = float(rng.choice([-1, 1]))
    dx = side * float(rng.uniform(5, max(6.0, w / 2 - margin - 2)))
    x0 = min(max(sx + dx, margin), w - margin)
    depth = float(rng.uniform(6, 10))
    y0 = edge_top + tilt * (x0 - sx) + depth
    # FLYD-S crack boxes are 18-71 px tall (median 36): 18 + Gamma(4, 5) has that spread.
    extra = float(rng.gamma(4.0, 5.0))
    if lengths:  # the same draw, mapped through the calibration's crack heights (the draws before it stay)
        from scipy.stats import gamma  # scipy: heavy, off the start-up path

        length = float(np.quantile(np.asarray(lengths, float), gamma.cdf(extra, 4.0, scale=5.0)))
    else:
        length = float(min(18 + extra, 70.0))
    length = min(length, max(12.0, edge_top + band_h - 6 - y0), max(12.0, h - 2 - y0))
    angle = min(max(float(rng.normal(0, math.radians(5))), -0.26), 0.26)  # within +-15 deg
    n = max(2, int(length // 2) + 1)
    ys = y0 + np.linspace(0, length, n)
    steps = np.tan(angle) * (length / (n - 1)) + rng.normal(0, sp.tortuosity, n - 1)
    xs = x0 + np.concatenate([[0.0], np.cumsum(steps)])
    xs = np.clip(xs, 1.5, w - 2.5)
    poly = tuple((round(float(x), 3), round(float(y), 3)) for x, y in zip(xs, ys, strict=True))
    return poly, (x0, depth, float(rng.uniform(2.5, 4.5)))


def _real_crack(seed: int, index: int, paths, w: int, h: int, notch: tuple[float, float, float]):
    """One of the calibration's crack polylines that fit a w x h crop, mirrored half the time and shifted by
    a few px, placed in the crop (native scale: a real crack keeps its pixel length and width), and its notch.

    Its own random stream: the scene's other draws are those of the same frame without ``paths``.
    """
    rng = np.random.default_rng([_u64(seed), int(index), 0xC4AC])
    # a crack from a larger real crop may lie outside this one: draw among those that fit (after the shift)
    fits = [p for p in paths if np.all(np.abs(np.asarray(p, float)).max(axis=0) <= (w / 2 - 7, h / 2 - 6))]
    pool = fits or paths
    pts = np.asarray(pool[int(rng.integers(len(pool)))], float)
    if rng.random() < 0.5:
        pts[:, 0] = -pts[:, 0]
    pts += (w / 2 + rng.uniform(-4, 4), h / 2 + rng.uniform(-3, 3))
    pts[:, 0] = np.clip(pts[:, 0], 1.5, w - 2.5)
    pts[:, 1] = np.clip(pts[:, 1], 2.0, h - 2.0)
    poly = tuple((round(float(x), 3), round(float(y), 3)) for x, y in pts)
    return poly, (poly[0][0], notch[1], notch[2])


# --------------------------------------------------------------------------- rendering
@lru_cache(maxsize=16)
def _grid(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return x + 0.5, y + 0.5  # pixel centres


@lru_cache(maxsize=16)
def _upsampler(n: int, g: int) -> np.ndarray:
    """(n, g) linear interpolation matrix: a coarse g-point noise grid to n pixels (cheap smooth fields)."""
    pos = np.linspace(0, g - 1, n)
    i0 = np.clip(np.floor(pos).astype(int), 0, g - 2)
    t = pos - i0
    m = np.zeros((n, g), np.float32)
    m[np.arange(n), i0] = 1 - t
    m[np.arange(n), i0 + 1] = t
    return m


def crack_mask(p: FrameParams) -> np.ndarray:
    """Pixels of the crack line (CRACK_THICKNESS px wide): what a FLYD-S mask marks."""
    mask = np.zeros((p.height, p.width), bool)
    if not p.crack:
        return mask
    pts = np.asarray(p.crack)
    rows = np.arange(math.floor(pts[0, 1]), math.ceil(pts[-1, 1]))
    rows = rows[(rows >= 0) & (rows < p.height)]
    xs = np.interp(rows + 0.5, pts[:, 1], pts[:, 0])
    half = CRACK_THICKNESS // 2
    for d in range(-half, CRACK_THICKNESS - half):
        cols = np.floor(xs).astype(int) + d
        ok = (cols >= 0) & (cols < p.width)
        mask[rows[ok], cols[ok]] = True
    return mask


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Pixel-edge box (x, y, w, h) of the True pixels, as the masks loader computes it."""
    ys = np.flatnonzero(mask.any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(mask.any(axis=0))
    return int(xs[0]), int(ys[0]), int(xs[-1] - xs[0] + 1), int(ys[-1] - ys[0] + 1)


def _acc(sp: Specimen, r: np.ndarray) -> np.ndarray:
    """Accumulated scan heat + ambient along a heat path of length r (1.0 = band ~50 px from the spot)."""
    return (sp.ambient + (1 - sp.ambient) * np.exp(-r / sp.heat_len)) * (1.0 / _acc_norm(sp))


def _acc_norm(sp: Specimen) -> float:
    return sp.ambient + (1 - sp.ambient) * math.exp(-50.0 / sp.heat_len)


def _halo(sp: Specimen, r: np.ndarray, xi: np.ndarray) -> np.ndarray:
    """Moving-spot halo (Rosenthal, 3D half-space): exp(-Pe (xi + r)) / r, regularised at the spot,
    plus the Gaussian laser spot itself (1/e^2 radius 2.5 px)."""
    return (sp.halo * np.exp(-sp.peclet * (xi + r)) / (r + sp.spot_radius)
            + sp.core * np.exp(-0.32 * r * r))


def _heat(p: FrameParams, sp: Specimen, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Band radiance without emissivity (1.0 = far band level), with the crack's thermal shadow."""
    sx, sy = p.spot
    dx, dy = X - sx, Y - sy
    rho = np.sqrt(dx * dx + dy * dy)
    xi = dy * sp.scan_dir  # coordinate along the scan: the halo trails behind the moving spot
    out = _acc(sp, rho) + _halo(sp, rho, xi)
    if not p.crack or p.barrier <= 0:
        return out
    pts = np.asarray(p.crack, np.float32)
    # Warp x so that the wiggly crack becomes its chord A-B, then do the geometry with the chord.
    ax, ay = float(pts[0, 0]), float(pts[0, 1]) - 80.0  # extended up: no heat passes above the free edge
    bx, by = float(pts[-1, 0]), float(pts[-1, 1])
    chord = pts[0, 0] + (pts[:, 1] - pts[0, 1]) * (bx - pts[0, 0]) / max(by - float(pts[0, 1]), 1e-6)
    wig = np.interp(Y[:, 0], pts[:, 1], pts[:, 0] - chord).astype(np.float32)
    below = Y[:, 0] > by
    wig[below] *= np.exp(-(Y[below, 0] - by) / 4.0)  # fade the warp past the tip: no kink there
    Xw = X - wig[:, None]
    ux, uy = bx - ax, by - ay
    far = (ux * (Y - ay) - uy * (Xw - ax)) * (ux * (sy - ay) - uy * (sx - ax)) < 0
    if far.any():
        # The barrier confines the scan heat to the spot's side: behind it the heated part of the
        # radiance drops by the barrier strength (the brightness step of real cracks). Past the
        # visible tip the closed crack still holds some heat back but the edge blurs in a widening
        # diffusion cone (FLYD-S: the step across the crack line halves ~5 px past the annotated
        # tip and is ~0 at 30 px, while the far side as a whole stays darker).
        xs_, ys_ = Xw[far], Y[far]
        ulen = math.hypot(ux, uy)
        past = np.maximum(((xs_ - bx) * ux + (ys_ - by) * uy) / ulen, 0.0)
        dist = np.abs(ux * (ys_ - ay) - uy * (xs_ - ax)) / ulen
        loss = p.barrier * np.minimum(dist / (sp.cone * past + 1e-3), 1.0)
        ambient = sp.ambient / _acc_norm(sp)
        out[far] = ambient + (out[far] - ambient) * (1.0 - loss)
    return out


def _window(p: FrameParams, x: float, y: float, r: float) -> tuple[slice, slice]:
    """Rows/columns within r of (x, y): local features are computed there only (speed)."""
    return (slice(max(0, int(y - r)), max(0, min(p.height, int(y + r) + 2))),
            slice(max(0, int(x - r)), max(0, min(p.width, int(x + r) + 2))))


def render(p: FrameParams) -> np.ndarray:
    """The 8-bit grey frame (H x W) of a scene."""
    sp = specimen(p.seed, p.specimen)
    X, Y = _grid(p.width, p.height)
    sx, sy = p.spot
    rng = np.random.default_rng(p.noise_seed)
    heat = _heat(p, sp, X, Y)

    # Emissivity: smooth texture, smudges, machining scratches, maybe a paint boundary.
    g = 5
    em = 1.0 + sp.roughness * (_upsampler(p.height, g) @ rng.standard_normal((g, g)).astype(np.float32)
                               @ _upsampler(p.width, g).T)
    for x, y, s, a in p.smudges:
        win = _window(p, x, y, 3 * s)
        em[win] += a * np.exp(-((X[win] - x) ** 2 + (Y[win] - y) ** 2) * (0.5 / (s * s)))
    for y0, slope, a in p.scratches:
        em += a * np.exp(-0.5 * (Y - y0 - slope * X) ** 2)
    if p.crack and p.opening > 0:
        # An open crack is a small cavity: its emissivity is higher, a thin brighter line (wide cracks only).
        pts = np.asarray(p.crack, np.float32)
        win = _window(p, float(pts[:, 0].mean()), float(pts[:, 1].mean()),
                      float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1])) / 2 + 3))
        cx_ = np.interp(Y[win][:, 0], pts[:, 1], pts[:, 0], left=np.nan, right=np.nan)
        line = np.exp(-0.5 * ((X[win] - cx_[:, None]) / 0.6) ** 2)
        em[win] += min(0.01 * p.opening, 0.08) * np.nan_to_num(line)
    if p.em_edge is not None:
        ex, slope, step = p.em_edge
        em *= 1.0 + step * (0.5 + 0.5 * np.tanh((X - ex - slope * (Y - sy)) / 1.2))

    # Specimen coverage (anti-aliased): band between its edges, minus the notch and the holes.
    top = p.edge_top + p.edge_tilt * (X - sx)
    cover = np.clip(Y - top + 0.5, 0, 1) * np.clip(top + p.band_height - Y + 0.5, 0, 1)
    if p.notch is not None:
        nx, depth, half = p.notch
        win = _window(p, nx, p.edge_top + p.edge_tilt * (nx - sx) + depth / 2, max(half, depth) + 2)
        ax_ = np.abs(X[win] - nx)
        d = top[win] + depth * (1 - ax_ / half) - Y[win]  # > 0 inside the V
        cover[win] *= np.where(ax_ < half, np.clip(0.5 - d / math.hypot(1, depth / half), 0, 1), 1.0)
    for hx, hy, r in p.holes:
        win = _window(p, hx, hy, r + 2)
        cover[win] *= np.clip(np.hypot(X[win] - hx, Y[win] - hy) - r + 0.5, 0, 1)
    if p.end is not None:
        ex, side = p.end
        cover *= np.clip(side * (ex - X) + 0.5, 0, 1)

    level = sp.level * p.gain
    back = sp.background + sp.holder * np.clip(Y - top - p.band_height / 2, 0, 1)
    img = back + cover * (level * em * heat - back)
    gdx, gdy, gamp = sp.ghost
    if gamp > 0:  # a lens ghost of the spot: an optical artefact, not heat
        win = _window(p, sx + gdx, sy + gdy, 11)
        img[win] += level * gamp * np.exp(-((X[win] - sx - gdx) ** 2 + (Y[win] - sy - gdy) ** 2) / (2 * 3.5**2))
    # Vignetting, centred on the sensor, which the crop (centred on the spot) does not share.
    cx, cy = p.width / 2 + 0.3 * (sx - p.width / 2) - 20, p.height / 2 - 10
    rr = ((X - cx) ** 2 + (Y - cy) ** 2) / (0.25 * (p.width**2 + p.height**2))
    img *= 1.0 - sp.vignette * rr
    # Optics: a slightly soft PSF plus a little veiling glare that lifts the background near the band.
    img = ndi.gaussian_filter(img, 0.7, truncate=3.0)
    img = 0.97 * img + 0.03 * ndi.uniform_filter(img, 15)
    # Sensor: shot noise grows with the signal, plus read noise; then 8-bit quantisation (spot saturates).
    sigma = sp.noise * np.sqrt(np.maximum(img, 1.0) / level) + 0.4
    img += sigma * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- frames
def frame_name(p: FrameParams, label: Label, index: int) -> str:
    # The specimen leads the name so that the loaders' group regex (Sample\d+) finds it.
    return f"Sample{p.specimen}_{label}_s{p.seed}_{index:06d}"


@dataclass(frozen=True)
class DrawnMask:
    """A simulated frame's crack mask, drawn from its scene when called: the ``meta["mask"]`` of the simulated
    dataset's frames, where a FLYD-S frame names its mask file. Masks of a whole set need not sit in memory,
    and equal scenes compare equal, so the mask scores of every cell find the drawing of the first."""

    scene: str  # the frame's FrameParams as sorted JSON

    def __call__(self) -> np.ndarray:
        return crack_mask(FrameParams(**json.loads(self.scene)))


def make_frame(seed: int, label: Label, index: int, *, size: int | tuple[int, int] = 128,
               difficulty: float = 1.0, source: str = "synthetic:physics", group_prefix: str = "",
               lengths: tuple[float, ...] | None = None, paths=None, with_mask: bool = False) -> Frame:
    """Frame ``index`` of class ``label`` for ``seed``: pixels in memory, exact box from the geometry, and its
    crack mask in ``meta["mask"]``: with ``with_mask`` a bool array (a generator's frame: the cache stores it
    as a PNG), else a :class:`DrawnMask` (a dataset's frame: drawn when a metric reads it)."""
    p = frame_params(seed, label, index, size, difficulty, lengths=lengths, paths=paths)
    grey = render(p)
    mask = crack_mask(p)
    scene = {f.name: getattr(p, f.name) for f in fields(p)}
    boxes: tuple[Box, ...] = ()
    if p.crack:
        box = mask_box(mask)
        if box is not None:
            boxes = (Box(*map(float, box)),)
    return Frame(
        path=None, width=p.width, height=p.height, label=label, boxes=boxes,
        group=f"{group_prefix}Sample{p.specimen}", source=source,
        image=np.repeat(grey[:, :, None], 3, axis=2),
        meta={"name": frame_name(p, label, index), "sim": scene,
              "mask": mask if with_mask else DrawnMask(json.dumps(scene, sort_keys=True))},
    )


def params_of(frame: Frame) -> FrameParams:
    """The scene of a simulated frame (from its meta), e.g. to rebuild its crack mask."""
    d = frame.meta.get("sim")
    if not d:
        raise UserError(f"frame {frame.stem} was not made by the simulator (no meta['sim'])")
    return FrameParams(**d)


def crop_size(seed: int, label: Label, index: int, size: int, sizes) -> int | tuple[int, int]:
    """The crop size of frame ``index``: ``size``, or one of ``sizes`` drawn from (seed, label, index)."""
    if not sizes:
        return size
    rng = np.random.default_rng([_u64(seed), LABEL_CODE[label], int(index), 0x512E])
    return sizes[int(rng.integers(len(sizes)))]


def simulate_frames(n: int, seed: int, size: int = 128, positive_fraction: float = 0.4,
                    sizes=None, difficulty: float = 1.0, *, source: str = "simulated",
                    group_prefix: str = "") -> FrameSet:
    """``n`` frames, ``round(n * positive_fraction)`` of them cracked, in a seeded order."""
    if n < 0 or not 0.0 <= positive_fraction <= 1.0:
        raise UserError(f"need n >= 0 and 0 <= positive_fraction <= 1 (got n={n}, {positive_fraction})",
                        field="data", fix="e.g. n: 600, positive_fraction: 0.4")
    check_bounds(n, size, sizes)
    n_pos = int(round(n * positive_fraction))
    plan = [("crack", i) for i in range(n_pos)] + [("sane", i) for i in range(n - n_pos)]
    order = np.random.default_rng([_u64(seed), 0x0DD]).permutation(n)
    frames = [make_frame(seed, plan[j][0], plan[j][1], size=crop_size(seed, *plan[j], size, sizes),
                         difficulty=difficulty, source=source, group_prefix=group_prefix)
              for j in order]
    return FrameSet(frames, name="simulated")


def check_bounds(n: int, size: int, sizes=None) -> None:
    """Refuse more frames, or larger ones, than memory can hold (before a single one is made)."""
    _check_int("n", n, 0, f"use at most {MAX_N} frames", MAX_N)
    check_size(size, "data.size")
    for s in sizes or ():
        check_size(s, "data.sizes")
    largest = max([size, *(sizes or ())])
    need = n * largest**2 * 3
    if need > MAX_BYTES:
        raise UserError(f"{n} frames of up to {largest} px take {need / 2**30:.1f} GiB of memory, over the "
                        f"{MAX_BYTES // 2**30} GiB bound", field="data.n",
                        fix="use fewer or smaller frames")


def check_size(value, field: str | None) -> None:
    """A crop size the simulator can draw: an integer number of px in [MIN_SIZE, MAX_SIZE]."""
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_SIZE <= value <= MAX_SIZE:
        raise UserError(f"size must be an integer in [{MIN_SIZE}, {MAX_SIZE}] px (got {value!r})", field=field,
                        fix="FLYD-S frames are 80-220 px")


def _check_int(name: str, value, minimum: int, fix: str, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum \
            or (maximum is not None and value > maximum):
        bound = f"in [{minimum}, {maximum}]" if maximum is not None else f">= {minimum}"
        raise UserError(f"{name} must be an integer {bound} (got {value!r})", field=f"data.{name}", fix=fix)


class SimulatedDataset:
    """Dataset ``simulated``: a FLYD-shaped set of physics frames, no files needed."""

    name = "simulated"
    version = VERSION

    def __init__(self, n: int = 600, size: int = 128, seed: int = 0, positive_fraction: float = 0.4,
                 sizes=None, difficulty: float = 1.0):
        _check_int("n", n, 1, "e.g. n: 600")
        _check_int("seed", seed, 0, "e.g. seed: 0")
        check_bounds(n, size, sizes)
        for name, value in (("positive_fraction", positive_fraction), ("difficulty", difficulty)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                    or value < 0 or (name == "positive_fraction" and value > 1):
                raise UserError(f"{name} must be a finite number{' in [0, 1]' * (name == 'positive_fraction')}"
                                f" >= 0 (got {value!r})", field=f"data.{name}", fix=f"e.g. {name}: 0.4")
        self.n, self.size, self.seed = int(n), int(size), int(seed)
        self.positive_fraction, self.difficulty = float(positive_fraction), float(difficulty)
        self.sizes = tuple(sizes) if sizes else None

    def fingerprint(self) -> str:
        return sha256_json({"dataset": self.name, "version": VERSION, "n": self.n, "size": self.size,
                            "seed": self.seed, "positive_fraction": self.positive_fraction,
                            "sizes": self.sizes, "difficulty": self.difficulty})

    def load(self) -> FrameSet:
        return simulate_frames(self.n, self.seed, self.size, self.positive_fraction, self.sizes,
                               self.difficulty)


# --------------------------------------------------------------------------- writing
def write_dataset(frames: FrameSet, out: str | os.PathLike, layout: str = "classes") -> Path:
    """Write frames as a FLYD-shaped folder (classes | yolo | coco | masks | all); returns the root."""
    from PIL import Image  # PIL: heavy, off the start-up path

    root = Path(out)
    if layout == "all":
        for lay in LAYOUTS:
            write_dataset(frames, root / lay, lay)
        return root
    if layout not in LAYOUTS:
        raise UserError(f"unknown layout {layout!r}", field="--layout",
                        fix="use one of " + ", ".join(LAYOUTS + ("all",)))
    root.mkdir(parents=True, exist_ok=True)
    if layout == "yolo":
        export_yolo(frames, root)
    elif layout == "coco":
        export_coco(frames, root / "annotations.json", copy_images_to=root / "images")
    elif layout == "classes":
        for f in frames:
            (root / f.label).mkdir(exist_ok=True)
            Image.fromarray(f.load()).save(root / f.label / f"{f.stem}.png")
    else:  # masks, like FLYD-S: <split>/images + <split>/masks with the same stem
        (root / "all" / "images").mkdir(parents=True, exist_ok=True)
        (root / "all" / "masks").mkdir(parents=True, exist_ok=True)
        for f in frames:
            mask = crack_mask(params_of(f)) if f.meta.get("sim") else np.zeros((f.height, f.width), bool)
            Image.fromarray(f.load()).save(root / "all" / "images" / f"{f.stem}.png")
            Image.fromarray((mask * 255).astype(np.uint8)).save(root / "all" / "masks" / f"{f.stem}.png")
    (root / "simulated.json").write_text(json.dumps(
        {"generator": "benchbench.data.simulate", "version": VERSION, "frames": len(frames), "layout": layout},
        indent=1, sort_keys=True) + "\n")
    return root
