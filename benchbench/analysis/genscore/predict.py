"""Do the generator scores predict the detector's gain?

For every synthetic cell that finished, its gain is ``metric(cell) − metric(real-only baseline of the
same detector, training budget, seed and fold)`` (an equal-steps cell against the equal-steps real-only
model, every other cell against the equal-epochs one), and its scores are those of the generated set it
trained on (generator, guidance, seed). Per score and metric: Spearman's ρ between score and gain,
partial on the synthetic ratio (the ranks of both are residualised on the ratio's rank, since a larger
ratio moves the gain whatever the set), with a percentile bootstrap CI over cells. With fewer than
``MIN_SETS`` distinct sets the scores take too few values for a rank correlation, and the result says
so instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

from benchbench.analysis.genscore.score import SCORES
from benchbench.records.ids import gen_task_id
from benchbench.records.summary import detector_label, metric_value

MIN_SETS = 4
MIN_CELLS = 6


def _baseline_key(c: dict[str, Any]) -> tuple[Any, ...]:
    # The budget is part of the key: the equal-steps real-only twin must not stand in for the
    # equal-epochs baseline (nor the reverse); so is the fold, whose test specimens differ.
    return detector_label(c["cell"]), c["cell"]["seed"], c.get("fold")


def gains(cells: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """(set id, ratio, detector, budget, gain) of every ok synthetic cell whose baseline is ok."""
    base = {_baseline_key(c): metric_value(c, metric)
            for c in cells if c.get("status") == "ok" and not c["cell"].get("generator")}
    out = []
    for c in cells:
        cc = c["cell"]
        if c.get("status") != "ok" or not cc.get("generator"):
            continue
        b, v = base.get(_baseline_key(c)), metric_value(c, metric)
        if b is None or v is None or not (np.isfinite(b) and np.isfinite(v)):
            continue
        out.append({"set": gen_task_id(cc["generator"], cc.get("guidance"), cc["seed"]),
                    "ratio": float(cc["ratio"]), "detector": cc["detector"],
                    "budget": cc.get("budget", "epochs"), "gain": float(v - b)})
    return out


def set_scores(section: dict[str, Any]) -> dict[str, dict[str, float]]:
    """set id -> {"<extractor>.<class>.<score>": value}, from the generator_scores section."""
    out: dict[str, dict[str, float]] = {}
    for s in section.get("sets", []):
        flat = {}
        for ext, by_class in (s.get("scores") or {}).items():
            for label, vals in by_class.items():
                for name in SCORES:
                    if vals.get(name) is not None:
                        flat[f"{ext}.{label}.{name}"] = float(vals[name])
        out[s["id"]] = flat
    return out


def partial_spearman(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
    """Spearman's ρ of x and y with the rank of z partialled out (plain ρ when z is constant)."""
    rx, ry, rz = rankdata(x), rankdata(y), rankdata(z)
    if np.ptp(rz) > 0:
        design = np.column_stack([np.ones_like(rz), rz])
        rx = rx - design @ np.linalg.lstsq(design, rx, rcond=None)[0]
        ry = ry - design @ np.linalg.lstsq(design, ry, rcond=None)[0]
    sx, sy = rx.std(), ry.std()
    if sx < 1e-12 or sy < 1e-12:
        return float("nan")
    return float(((rx - rx.mean()) * (ry - ry.mean())).mean() / (sx * sy))


def correlate(rows: list[dict[str, Any]], scores: dict[str, dict[str, float]], name: str, n_boot: int,
              seed: int = 0) -> dict[str, Any]:
    pts = [(scores[r["set"]][name], r["gain"], r["ratio"]) for r in rows if name in scores.get(r["set"], {})]
    n_sets = len({r["set"] for r in rows if name in scores.get(r["set"], {})})
    out: dict[str, Any] = {"n_cells": len(pts), "n_sets": n_sets, "rho": None, "ci": None}
    if n_sets < MIN_SETS or len(pts) < MIN_CELLS:
        out["note"] = (f"too few points for a conclusion: {n_sets} generated set(s) and {len(pts)} cell(s); "
                       f"a rank correlation needs at least {MIN_SETS} sets and {MIN_CELLS} cells")
        return out
    x, y, z = (np.array(v, dtype=float) for v in zip(*pts, strict=True))
    rho = partial_spearman(x, y, z)
    if not np.isfinite(rho):
        out["note"] = "no rank correlation: the gains or the scores are all tied once the ratio is partialled out"
        return out
    out["rho"] = rho
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        i = rng.integers(0, len(x), len(x))
        r = partial_spearman(x[i], y[i], z[i])
        if np.isfinite(r):
            boot.append(r)
    if len(boot) >= max(10, n_boot // 2):
        out["ci"] = [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))]
    return out


def score_gain(cells: list[dict[str, Any]], section: dict[str, Any], metrics: list[str], n_boot: int) -> dict[str, Any]:
    """The ``generator_scores.gain`` section: per metric, the cells' gains and ρ per score."""
    scores = set_scores(section)
    names = sorted({n for flat in scores.values() for n in flat})
    out: dict[str, Any] = {"method": "partial Spearman on the synthetic ratio, 95% percentile bootstrap over cells",
                           "metrics": {}}
    for metric in metrics:
        rows = gains(cells, metric)
        out["metrics"][metric] = {"cells": rows,
                                  "by_score": {n: correlate(rows, scores, n, n_boot) for n in names}}
    tested = sum(r["rho"] is not None for m in out["metrics"].values() for r in m["by_score"].values())
    if tested:
        out["multiple_comparisons"] = (f"{tested} correlation(s) tested: about {0.05 * tested:.1f} of their 95% CIs "
                                       "exclude 0 by chance alone, so read single hits with care")
    n_sets = len({r["set"] for m in out["metrics"].values() for r in m["cells"]})
    if n_sets < MIN_SETS:
        out["conclusion"] = (f"the grid is too small to say whether the scores predict the gain: {n_sets} generated "
                             f"set(s) with finished cells, at least {MIN_SETS} needed (more generators, guidance "
                             "scales or seeds)")
    return out


def score_gains(section: dict[str, Any], cells: list[dict[str, Any]], spec: Any, run_dir: Path) -> dict[str, Any]:
    """``section`` with its ``gain`` (scores vs the cells' metric gains) and the score-vs-gain plots made
    from ``cells``: at the end of a run, and again when `bench rescore` changed the cells' metrics."""
    section["gain"] = score_gain(cells, section, spec.gain_metrics, spec.bootstrap)
    try:
        from benchbench.analysis.genscore.plots import gain_plots  # matplotlib; and genscore.plots imports this module

        section["plots"] = [str(q.relative_to(run_dir)) for q in gain_plots(section, Path(run_dir) / "genscore")]
    except Exception as exc:  # a picture must never cost the scores
        section.setdefault("errors", []).append(f"score-vs-gain plots not written: {type(exc).__name__}: {exc}")
    return section
