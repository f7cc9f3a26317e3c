"""Rich tables for cells and seed summaries."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from benchbench.summary import metric_value


def _num(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _with_ci(m: dict[str, Any] | None) -> str:
    if not m:
        return "–"
    ci = m.get("ci") or [None, None]
    if ci[0] is None:
        return _num(m.get("value"))
    return f"{_num(m['value'])} [{_num(ci[0], 2)}, {_num(ci[1], 2)}]"


def _guidance(g: float | None) -> str:
    return "–" if g is None else f"{g:g}"


def cells_table(cells: list[dict[str, Any]], title: str = "cells") -> Table:
    t = Table(title=title, show_lines=False)
    for col in ("detector", "generator", "guid.", "ratio", "seed", "status", "mAP50-95 [95% CI]",
                "mAP50 [95% CI]", "low-IoU AP", "F1", "AUROC", "syn +/-", "time s"):
        t.add_column(col, justify="right" if col not in ("detector", "generator", "status") else "left")
    for r in cells:
        c, m, n = r["cell"], r.get("metrics") or {}, r.get("counts") or {}
        low = ", ".join(f"{k}={_num(v['value'], 2)}" for k, v in m.items()
                        if k.startswith("AP") and isinstance(v, dict))
        frame = m.get("frame") or {}
        status = "ok" if r.get("status") == "ok" else f"[red]failed[/red]: {(r.get('error') or '')[:40]}"
        syn = f"{n.get('synthetic_pos', 0)}/{n.get('synthetic_neg', 0)}" if c.get("generator") else "–"
        t.add_row(c["detector"], c.get("generator") or "real only", _guidance(c.get("guidance")),
                  f"{c['ratio']:g}", str(c["seed"]), status, _with_ci(m.get("mAP50_95")), _with_ci(m.get("mAP50")),
                  low or "–", _num(frame.get("f1")), _num(frame.get("auroc")), syn,
                  _num((r.get("timings") or {}).get("total"), 1))
    return t


def summary_table(summary: list[dict[str, Any]], title: str = "mean ± std over seeds") -> Table:
    t = Table(title=title)
    names = ["mAP50_95", "mAP50"] + sorted({k for s in summary for k in s if k.startswith("AP")}) + ["f1", "auroc"]
    for col in ("detector", "generator", "guid.", "ratio", "seeds", *names):
        t.add_column(col, justify="left" if col in ("detector", "generator") else "right")
    for s in summary:
        vals = []
        for name in names:
            v = s.get(name)
            vals.append("–" if not v else f"{v['mean']:.3f} ± {v['std']:.3f}")
        t.add_row(s["detector"], s.get("generator") or "real only", _guidance(s.get("guidance")),
                  f"{s['ratio']:g}", str(len(s["seeds"])) + (f" ({s['n_failed']} failed)" if s["n_failed"] else ""),
                  *vals)
    return t


__all__ = ["cells_table", "summary_table", "metric_value"]
