"""Aggregate cells over seeds: mean ± std per (detector, generator, guidance, ratio)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

SUMMARY_METRICS = ("mAP50_95", "mAP50", "mAP75", "AR100")
MASK_METRICS = ("hit_AP", "pixel_recall", "crack_recall", "box_precision")
CRACK_METRICS = ("op_f1", *MASK_METRICS)  # box-free and operating-point scores (schema 2)


def metric_entry(cell: dict[str, Any], name: str) -> dict[str, Any] | None:
    """``{value, ci?}`` of a metric by its flat name: ``mAP50``, ``AP10``, ``f1`` (frame level),
    ``mAP50@hairline`` (size range), ``crack_recall`` (masks), ``op_f1`` (operating point)."""
    m = cell.get("metrics") or {}
    base, _, size = name.partition("@")
    if size:
        entry = (((m.get("sizes") or {}).get("ranges") or {}).get(size) or {}).get(base)
    elif name in MASK_METRICS:
        entry = (m.get("masks") or {}).get(name)
    elif name == "op_f1":
        crack = (m.get("operating_point") or {}).get("crack")
        entry = {"value": crack["f1"], "ci": crack.get("f1_ci")} if crack else None
    elif isinstance(m.get(name), dict):
        entry = m[name]
    else:
        entry = {"value": m["frame"][name]} if name in (m.get("frame") or {}) else None
    return entry if isinstance(entry, dict) and "value" in entry else None


def metric_value(cell: dict[str, Any], name: str) -> float | None:
    entry = metric_entry(cell, name)
    return None if entry is None else entry["value"]


def defined(v: float | None) -> bool:
    """A value to average: every metric lies in [0, 1], and an AP of -1 is COCO's "no crack here"."""
    return v is not None and bool(np.isfinite(v)) and v >= 0


def size_metric_names(cells: list[dict[str, Any]], bases: tuple[str, ...] = ("mAP50",)) -> list[str]:
    """``<base>@<range>`` for the size ranges the cells report, in their order."""
    ranges = dict.fromkeys(r for c in cells for r in (((c.get("metrics") or {}).get("sizes") or {})
                                                      .get("ranges") or {}))
    return [f"{b}@{r}" for r in ranges for b in bases]


def detector_label(c: dict[str, Any]) -> str:
    """A cell's detector as settings and tables show it: equal-steps cells are ``name@steps``."""
    budget = c.get("budget", "epochs")
    return c["detector"] if budget == "epochs" else f"{c['detector']}@{budget}"


def setting_of(cell: dict[str, Any]) -> tuple[Any, ...]:
    c = cell["cell"]
    return detector_label(c), c.get("generator"), c.get("guidance"), c["ratio"]


def seed_values(cells: Sequence[dict[str, Any]], metric: str) -> list[float]:
    """One value per seed over a setting's ok cells: a seed's specimen-fold cells are averaged, because the
    folds are parts of one test set, not more seeds (a plain split has one cell per seed)."""
    per_seed: dict[Any, list[float]] = {}
    for i, c in enumerate(cells):
        if c.get("status") == "ok" and defined(v := metric_value(c, metric)):
            per_seed.setdefault((c.get("cell") or {}).get("seed", f"#{i}"), []).append(v)
    return [float(np.mean(v)) for v in per_seed.values()]


def summarize(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for cell in cells:
        groups[setting_of(cell)].append(cell)
    out = []
    for (det, gen, guid, ratio), rows in groups.items():
        ok = [r for r in rows if r.get("status") == "ok"]
        names = set(SUMMARY_METRICS)
        for r in ok:
            names |= {k for k in (r.get("metrics") or {}) if k.startswith("AP")}
        names |= {"f1", "auroc", *CRACK_METRICS, *size_metric_names(ok, ("mAP50", *sorted(
            k for r in ok for k in (r.get("metrics") or {}) if k.startswith("AP"))))}
        entry: dict[str, Any] = {"detector": det, "generator": gen, "guidance": guid, "ratio": ratio,
                                 "seeds": sorted(r["cell"]["seed"] for r in ok), "n_failed": len(rows) - len(ok)}
        folds = sorted({r["cell"]["fold"] for r in ok if r["cell"].get("fold") is not None})
        if folds:  # specimen folds: the seeds list holds each seed once per fold; mean and std are over seeds
            entry["folds"] = folds
        for name in sorted(names):
            vals = seed_values(ok, name)
            if vals:
                entry[name] = {"mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1)) if len(vals) > 1
                               else 0.0, "n": len(vals)}
        out.append(entry)
    return out


def headline_names(summary: list[dict[str, Any]]) -> list[str]:
    """The seed-summary columns: mAP, every low-IoU AP, frame F1 and AUROC (size ranges have their own table)."""
    lows = sorted({k for s in summary for k in s if k.startswith("AP") and "@" not in k})
    return ["mAP50_95", "mAP50", *lows, "f1", "auroc"]


def crack_names(summary: list[dict[str, Any]]) -> list[str]:
    """The crack-scale columns present: AP per size range, operating-point F1, mask scores."""
    present = dict.fromkeys(k for s in summary for k in s)
    sized = [k for k in present if "@" in k and k.split("@")[0] in ("mAP50", "AP10")]
    return sized + [k for k in CRACK_METRICS if k in present]


def seeds_text(entry: dict[str, Any]) -> str:
    """The seeds column: distinct seeds (a seed's fold cells are one seed), then any failed cells."""
    failed = f" ({entry['n_failed']} failed)" if entry.get("n_failed") else ""
    return f"{len(set(entry['seeds']))}{failed}"


def mean_std_text(v: dict[str, Any] | None, sep: str = "±") -> str:
    """'0.371±0.017' over several seeds; one seed has no spread to show, so just its value."""
    if not v:
        return "–"
    return f"{v['mean']:.3f}" if v.get("n", 2) < 2 else f"{v['mean']:.3f}{sep}{v['std']:.3f}"
