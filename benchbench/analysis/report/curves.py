"""The learning-curve part of a report: test metrics vs optimizer steps, read from the cells' ``curve``.

One figure per (detector row, generator), one panel per primary metric (the answer's metric first
when the matrix declares one, then AP at the lowest IoU, hit AP, mAP50): the real-only cells and
that generator's cells, solid at equal epochs and dashed at equal steps, each the mean over seeds
(and folds) of the k-th checkpoint. A curve still rising at its end is a model that was not
converged when it was scored. Nothing is chosen on these points (benchbench.method.curves).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

from benchbench.analysis.report.plots import DPI, FIGSIZE, MARKERS, PALETTE, STYLE, metric_label, save_png, slug
from benchbench.analysis.report.table import fmt_guidance, fmt_num
from benchbench.records.summary import defined

# (detector row, generator, guidance, ratio, budget)
Line = tuple[str, str | None, float | None, float, str]
REAL_COLOURS = {"epochs": "0.15", "steps": "0.5"}


def _with_curve(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in cells if c.get("status") == "ok" and c.get("curve")]


def _line(c: dict[str, Any]) -> Line:
    k = c["cell"]
    return k["detector"], k.get("generator"), k.get("guidance"), k["ratio"], k.get("budget", "epochs")


def curve_metrics(cells: list[dict[str, Any]], primary: str | None = None) -> list[str]:
    """The metrics to plot, in order, among those the curves hold."""
    held = {k for c in _with_curve(cells) for p in c["curve"] for k, v in p.items() if isinstance(v, float)}
    lowest = sorted((k for k in held if k.startswith("AP") and k[2:].isdigit()), key=lambda k: int(k[2:]))[:1]
    wanted = [primary, *lowest, "hit_AP", "mAP50"]
    return [m for m in dict.fromkeys(wanted) if m in held]


def curve_means(cells: list[dict[str, Any]], metric: str) -> dict[Line, list[tuple[float, float]]]:
    """Line -> (mean steps, mean metric) of its k-th checkpoints over seeds and folds."""
    by_line: dict[Line, list[list[dict[str, Any]]]] = defaultdict(list)
    for c in _with_curve(cells):
        by_line[_line(c)].append(c["curve"])
    out = {}
    for line, curves in by_line.items():
        points = []
        for k in range(min(map(len, curves))):
            values = [v for curve in curves if defined(v := curve[k].get(metric))]
            if values:
                points.append((float(np.mean([curve[k]["steps"] for curve in curves])), float(np.mean(values))))
        if points:
            out[line] = points
    return out


def _label(line: Line) -> str:
    _, gen, guid, ratio, budget = line
    data = "real only" if gen is None else f"{gen}{'' if guid is None else ' g' + fmt_guidance(guid)} r{ratio:g}"
    return f"{data}, equal {budget}"


def curve_plots(cells: list[dict[str, Any]], plots_dir: Path, primary: str | None = None) -> list[Path]:
    """``curve__<detector>__<generator>.png`` for every detector row with curves ([] without any)."""
    metrics = curve_metrics(cells, primary)
    if not metrics:
        return []
    means = {m: curve_means(cells, m) for m in metrics}
    lines = {line for per in means.values() for line in per}
    out = []
    for det in sorted({line[0] for line in lines}):
        gens = sorted({line[1] for line in lines if line[0] == det and line[1] is not None}) or [None]
        for gen in gens:
            shown = sorted((line for line in lines if line[0] == det and line[1] in (None, gen)),
                           key=lambda x: (x[1] is not None, x[2] or 0, x[3], x[4]))
            out.append(_figure_of(det, gen, shown, means, plots_dir / f"curve__{slug(det)}__{slug(gen)}.png"))
    return out


def _figure_of(det: str, gen: str | None, lines: list[Line], means: dict[str, dict[Line, Any]], path: Path) -> Path:
    from matplotlib.figure import Figure  # matplotlib: heavy, off the start-up path

    synthetic = list(dict.fromkeys(line[2:4] for line in lines if line[1] is not None))
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(FIGSIZE[0] * (0.6 + 0.55 * len(means)), FIGSIZE[1]), dpi=DPI, layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, len(means)))
        for ax, (metric, per_line) in zip(axes, means.items(), strict=True):
            for line in lines:
                if line not in per_line:
                    continue
                xs, ys = zip(*per_line[line], strict=True)
                if line[1] is None:
                    colour, marker = REAL_COLOURS.get(line[4], "0.3"), "o"
                else:
                    i = synthetic.index(line[2:4])
                    colour, marker = PALETTE[i % len(PALETTE)], MARKERS[(i + 1) % len(MARKERS)]
                ax.plot(xs, ys, color=colour, marker=marker, ms=4, lw=1.5, ls="-" if line[4] == "epochs" else "--",
                        label=_label(line))
            ax.set_xlabel("optimizer steps")
            ax.set_ylabel(f"{metric_label(metric)} on the test frames")
            ax.grid(True, color="0.9", lw=0.6)
        axes[-1].legend(loc="best", frameon=False)
        fig.suptitle(f"{det} · {gen or 'real only'}: learning curves (mean over seeds; reported, never selected on)")
        return save_png(fig, path)


def curve_rows(cells: list[dict[str, Any]], metric: str) -> tuple[list[str], list[list[str]]]:
    """Per line: its checkpoints' steps and ``metric`` (means over seeds), and the change between its last two."""
    rows = []
    for line, points in sorted(curve_means(cells, metric).items(), key=lambda kv: (kv[0][0], kv[0][1] or "",
                                                                                    kv[0][2] or 0, kv[0][3],
                                                                                    kv[0][4])):
        steps = " → ".join(f"{s:.0f}" for s, _ in points)
        values = " → ".join(fmt_num(v) for _, v in points)
        late = fmt_num(points[-1][1] - points[-2][1]) if len(points) > 1 else "–"
        rows.append([line[0], _label(line), steps, values, late])
    return ["detector", "training data, budget", "steps", metric_label(metric), "last change"], rows
