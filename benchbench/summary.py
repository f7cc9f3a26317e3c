"""Aggregate cells over seeds: mean ± std per (detector, generator, guidance, ratio)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

SUMMARY_METRICS = ("mAP50_95", "mAP50", "mAP75", "AR100")


def metric_value(cell: dict[str, Any], name: str) -> float | None:
    m = cell.get("metrics") or {}
    if name in m and isinstance(m[name], dict):
        return m[name].get("value")
    if name in (m.get("frame") or {}):
        return m["frame"][name]
    return None


def detector_label(c: dict[str, Any]) -> str:
    """A cell's detector as settings and tables show it: equal-steps cells are ``name@steps``."""
    budget = c.get("budget", "epochs")
    return c["detector"] if budget == "epochs" else f"{c['detector']}@{budget}"


def setting_of(cell: dict[str, Any]) -> tuple[Any, ...]:
    c = cell["cell"]
    return detector_label(c), c.get("generator"), c.get("guidance"), c["ratio"]


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
        names |= {"f1", "auroc"}
        entry: dict[str, Any] = {"detector": det, "generator": gen, "guidance": guid, "ratio": ratio,
                                 "seeds": sorted(r["cell"]["seed"] for r in ok), "n_failed": len(rows) - len(ok)}
        for name in sorted(names):
            vals = [v for r in ok if (v := metric_value(r, name)) is not None and np.isfinite(v)]
            if vals:
                entry[name] = {"mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1)) if len(vals) > 1
                               else 0.0, "n": len(vals)}
        out.append(entry)
    return out


def mean_std_text(v: dict[str, Any] | None, sep: str = "±") -> str:
    """'0.371±0.017' over several seeds; one seed has no spread to show, so just its value."""
    if not v:
        return "–"
    return f"{v['mean']:.3f}" if v.get("n", 2) < 2 else f"{v['mean']:.3f}{sep}{v['std']:.3f}"
