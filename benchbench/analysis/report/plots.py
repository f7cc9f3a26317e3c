"""Paper-ready PNG plots of a run (matplotlib, Agg; no pyplot global state).

* ``<metric>_vs_ratio__<detector>.png``: mean over seeds vs synthetic ratio, one line per
  (generator, guidance) with its 95% CI band, the real-only baseline as a horizontal band.
* ``guidance_heatmap__<detector>__<generator>.png``: change of mAP50-95 against the real-only
  baseline for each (guidance, ratio) of a generator that uses guidance.

CIs come from :func:`benchbench.analysis.stats.seed_stat`: Student t over seeds, or the cell's grouped
bootstrap CI over test frames when there is one seed. Every figure has the same pixel size
(``FIGSIZE`` × ``DPI``) so reports and papers lay out predictably.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

from benchbench.analysis.stats import SeedStat, seed_stat
from benchbench.metrics.errors import ERROR_TYPES
from benchbench.records.summary import detector_label, setting_of

FIGSIZE = (6.4, 4.0)  # inches: one column of a two-column paper at DPI, or a slide
DPI = 150
PIXELS = (round(FIGSIZE[0] * DPI), round(FIGSIZE[1] * DPI))
RATIO_METRICS = ("mAP50_95", "mAP50")
HEATMAP_METRIC = "mAP50_95"
HEATMAP_MIN_SPAN = 0.01  # colour scale spans at least ±1 mAP point, so noise-sized changes stay pale
METRIC_LABELS = {"mAP50_95": "mAP@[.50:.95]", "mAP50": "mAP@.50", "mAP75": "mAP@.75", "AR100": "AR@100"}
# Okabe–Ito: distinguishable with colour-vision deficiencies and in greyscale together with markers.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MARKERS = "osD^vP*X"
STYLE = {"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "legend.fontsize": 8,
         "xtick.labelsize": 9, "ytick.labelsize": 9, "axes.spines.top": False, "axes.spines.right": False}


def slug(name: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(name)).strip("-") or "none"


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def _figure(figsize: tuple[float, float] = FIGSIZE):
    from matplotlib.figure import Figure  # matplotlib: heavy, off the start-up path

    # A bare Figure draws with Agg when saved: no GUI backend, no pyplot state shared between calls.
    return Figure(figsize=figsize, dpi=DPI, layout="constrained")


def save_png(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png")  # no bbox_inches="tight": the pixel size stays FIGSIZE × DPI
    return path


def _stats_by(cells: list[dict[str, Any]], metric: str) -> dict[tuple[Any, ...], SeedStat]:
    """(generator, guidance, ratio) -> mean and CI over seeds."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for c in cells:
        groups.setdefault(setting_of(c)[1:], []).append(c)  # cells of one detector: drop it from the key
    return {k: s for k, v in groups.items() if (s := seed_stat(v, metric)) is not None}


def _cells_of(cells: list[dict[str, Any]], label: str) -> list[dict[str, Any]]:
    """One detector's cells as a table shows it (``yolo`` or ``yolo@steps``). The largest-ratio cells
    have no equal-steps copy, being at that budget already: they join the ``@steps`` curves too."""
    own = [c for c in cells if detector_label(c["cell"]) == label]
    base, _, budget = label.partition("@")
    if not budget:
        return own
    have = {setting_of(c)[1:] for c in own}
    return own + [c for c in cells if detector_label(c["cell"]) == base and c["cell"]["ratio"] > 0
                  and setting_of(c)[1:] not in have]


def _line_label(gen: str, guidance: float | None) -> str:
    return gen if guidance is None else f"{gen}, guidance {guidance:g}"


def ratio_plot(cells: list[dict[str, Any]], detector: str, metric: str, path: Path) -> Path | None:
    """``metric`` vs synthetic ratio for one detector; None when it has no ok cell."""
    stats = _stats_by(_cells_of(cells, detector), metric)
    if not stats:
        return None
    base = next((s for (g, _, r), s in stats.items() if g is None and r == 0), None)
    lines: dict[tuple[str, float | None], dict[float, SeedStat]] = {}
    for (gen, guid, ratio), s in stats.items():
        if gen is not None:
            lines.setdefault((gen, guid), {})[ratio] = s
    ratios = sorted({r for _, _, r in stats})
    with matplotlib.rc_context(STYLE):
        fig = _figure()
        ax = fig.subplots()
        if base is not None:
            ax.axhspan(*_band(base), color="0.6", alpha=0.25, lw=0, label="real only, 95% CI")
            ax.axhline(base.mean, color="0.35", ls="--", lw=1.2, label=f"real only ({base.mean:.3f})")
        for i, ((gen, guid), pts) in enumerate(sorted(lines.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0))):
            # Every curve starts at the shared real-only model (ratio 0) when there is one.
            xs = sorted(pts)
            series = ([base] if base is not None and 0 not in pts else []) + [pts[x] for x in xs]
            xs = ([0.0] if base is not None and 0 not in pts else []) + xs
            colour, marker = PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]
            ax.plot(xs, [s.mean for s in series], color=colour, marker=marker, ms=5, lw=1.6,
                    label=_line_label(gen, guid))
            lo, hi = zip(*(_band(s) for s in series), strict=True)
            ax.fill_between(xs, lo, hi, color=colour, alpha=0.15, lw=0)
        ax.set_xticks(ratios)
        ax.set_xticklabels([f"{r:g}" for r in ratios])
        replace = any(c.get("mode") == "replace" for c in cells)
        ax.set_xlabel("synthetic share of the training frames" if replace
                      else "synthetic ratio (synthetic frames per real training frame)")
        ax.set_ylabel(metric_label(metric))
        n_seeds = max(s.n for s in stats.values())
        ci = "t over seeds" if n_seeds > 1 else "bootstrap over test frames"
        ax.set_title(f"{detector}: {metric_label(metric)} vs synthetic ratio (mean, 95% CI: {ci})")
        ax.grid(True, color="0.9", lw=0.6)
        ax.set_ylim(*_ylim(stats.values()))
        ax.legend(loc="best", frameon=False)
        return save_png(fig, path)


def _band(s: SeedStat) -> tuple[float, float]:
    """The CI, or a zero-width band at the mean when the CI is unknown (one seed, no bootstrap)."""
    lo = s.lo if np.isfinite(s.lo) else s.mean
    hi = s.hi if np.isfinite(s.hi) else s.mean
    return lo, hi


def _ylim(stats: Any) -> tuple[float, float]:
    vals = [v for s in stats for v in _band(s)]
    lo, hi = min(vals), max(vals)
    pad = max(0.02, 0.1 * (hi - lo))  # flat curves still get a readable axis
    bottom, top = max(0.0, lo - pad), min(1.0, hi + pad)
    return bottom, top if top > bottom else bottom + pad


def guidance_heatmap(cells: list[dict[str, Any]], detector: str, generator: str, path: Path,
                     metric: str = HEATMAP_METRIC) -> Path | None:
    """Δ``metric`` vs the real-only baseline per (guidance, ratio); None without guidance cells."""
    stats = _stats_by(_cells_of(cells, detector), metric)
    pts = {(g, r): s for (gen, g, r), s in stats.items() if gen == generator and g is not None and r > 0}
    if not pts:
        return None
    base = next((s for (g, _, r), s in stats.items() if g is None and r == 0), None)
    guid, ratios = sorted({g for g, _ in pts}), sorted({r for _, r in pts})
    grid = np.full((len(guid), len(ratios)), np.nan)
    for (g, r), s in pts.items():
        grid[guid.index(g), ratios.index(r)] = s.mean - (base.mean if base else 0.0)
    with matplotlib.rc_context(STYLE):
        fig = _figure()
        ax = fig.subplots()
        if base is not None:
            # Diverging and centred on 0: blue helps, red hurts, white is no change.
            span = max(float(np.nanmax(np.abs(grid))), HEATMAP_MIN_SPAN)
            im = ax.imshow(grid, cmap="RdBu", vmin=-span, vmax=span, aspect="auto")
            what = f"Δ {metric_label(metric)} vs real only ({base.mean:.3f})"
        else:
            im = ax.imshow(grid, cmap="viridis", aspect="auto")
            what = metric_label(metric)
        for (i, j), v in np.ndenumerate(grid):
            if np.isfinite(v):
                shade = im.cmap(im.norm(v))
                ink = "white" if 0.299 * shade[0] + 0.587 * shade[1] + 0.114 * shade[2] < 0.5 else "black"
                ax.text(j, i, f"{v:+.3f}" if base is not None else f"{v:.3f}", ha="center", va="center",
                        color=ink, fontsize=9)
        ax.set_xticks(range(len(ratios)), [f"{r:g}" for r in ratios])
        ax.set_yticks(range(len(guid)), [f"{g:g}" for g in guid])
        ax.set_xlabel("synthetic ratio")
        ax.set_ylabel("guidance scale")
        ax.set_title(f"{detector} + {generator}: {what}, mean over seeds")
        ax.spines[:].set_visible(False)
        fig.colorbar(im, ax=ax, label=what.split(" vs ")[0])
        return save_png(fig, path)


def run_plots(cells: list[dict[str, Any]], plots_dir: Path, metrics: Sequence[str] = RATIO_METRICS) -> list[Path]:
    """Every plot of a run: metric vs ratio per detector, and guidance heat maps."""
    ok = [c for c in cells if c.get("status") == "ok"]
    detectors = list(dict.fromkeys(detector_label(c["cell"]) for c in ok))
    generators = list(dict.fromkeys(c["cell"]["generator"] for c in ok
                                    if c["cell"].get("generator") and c["cell"].get("guidance") is not None))
    out = []
    for det in detectors:
        for m in metrics:
            out.append(ratio_plot(ok, det, m, plots_dir / f"{m}_vs_ratio__{slug(det)}.png"))
        for gen in generators:
            out.append(guidance_heatmap(ok, det, gen, plots_dir / f"guidance_heatmap__{slug(det)}__{slug(gen)}.png"))
    return [p for p in out if p is not None]


def leaderboard_png(labels: Sequence[str], stats: Sequence[SeedStat | None], metric: str, title: str) -> bytes:
    """Horizontal bars (best on top) with 95% CI whiskers, as PNG bytes for embedding."""
    rows = [(lab, s) for lab, s in zip(labels, stats, strict=True) if s is not None]
    height = max(FIGSIZE[1], 0.32 * len(rows) + 1.2)  # one readable bar per entry
    with matplotlib.rc_context(STYLE):
        fig = _figure((FIGSIZE[0] * 1.4, height))
        ax = fig.subplots()
        ys = np.arange(len(rows))[::-1]
        means = np.array([s.mean for _, s in rows])
        lo, hi = (np.array(v) for v in zip(*(_band(s) for _, s in rows), strict=True)) if rows else ([], [])
        ax.barh(ys, means, color=PALETTE[0], alpha=0.85, height=0.6)
        ax.errorbar(means, ys, xerr=[means - lo, hi - means], fmt="none", ecolor="0.2", capsize=3, lw=1)
        ax.set_yticks(ys, [lab for lab, _ in rows])
        ax.set_xlabel(f"{metric_label(metric)} (mean over seeds, 95% CI)")
        ax.set_title(title)
        ax.grid(True, axis="x", color="0.9", lw=0.6)
        buf = io.BytesIO()
        fig.savefig(buf, dpi=DPI, format="png")
        return buf.getvalue()


def pr_curve_plot(curves: dict[str, dict[float, np.ndarray]], ratio: float, path: Path) -> Path | None:
    """Precision vs recall of every (detector, training data) at one ratio, one panel per IoU.

    ``curves``: label -> {IoU: (101,) interpolated precision, mean over seeds}.
    """
    ious = sorted({iou for c in curves.values() for iou in c}, reverse=True)
    if not ious:
        return None
    recall = np.linspace(0.0, 1.0, 101)
    with matplotlib.rc_context(STYLE):
        fig = _figure((FIGSIZE[0] * 1.5, FIGSIZE[1]))
        axes = np.atleast_1d(fig.subplots(1, len(ious), sharey=True))
        for ax, iou in zip(axes, ious, strict=True):
            for i, (label, c) in enumerate(sorted(curves.items())):
                if iou in c:
                    ax.plot(recall, c[iou], color=PALETTE[i % len(PALETTE)], lw=1.5, label=label,
                            ls="-" if i < len(PALETTE) else "--")
            ax.set_title(f"IoU {iou:g}")
            ax.set_xlabel("recall")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.02)
            ax.grid(True, color="0.92", lw=0.6)
        axes[0].set_ylabel("precision (interpolated, mean over seeds)")
        axes[-1].legend(loc="lower left", frameon=False)
        fig.suptitle(f"PR curves at synthetic ratio {ratio:g}")
        return save_png(fig, path)


def error_bars_plot(rows: Sequence[tuple[str, dict[str, float]]], detector: str, path: Path) -> Path | None:
    """AP50 gained by fixing each error type (mean over seeds), grouped bars per training setting."""
    types = ERROR_TYPES[:4]
    if not rows:
        return None
    with matplotlib.rc_context(STYLE):
        fig = _figure((FIGSIZE[0], max(FIGSIZE[1], 0.55 * len(rows) + 1.2)))
        ax = fig.subplots()
        ys = np.arange(len(rows))[::-1]
        height = 0.8 / len(types)
        for j, t in enumerate(types):
            ax.barh(ys + (len(types) / 2 - j - 0.5) * height, [r[1].get(t, 0.0) for r in rows], height=height,
                    color=PALETTE[j], label=t)
        ax.set_yticks(ys, [r[0] for r in rows])
        ax.set_xlabel("ΔAP50 when this error type is fixed (mean over seeds)")
        ax.set_title(f"{detector}: where the AP50 goes")
        ax.legend(frameon=False, loc="lower right")
        ax.grid(True, axis="x", color="0.9", lw=0.6)
        return save_png(fig, path)
