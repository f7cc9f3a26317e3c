"""Rich tables for cells and seed summaries."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from benchbench.records.summary import detector_label, headline_names, mean_std_text, metric_value, seeds_text


def fmt_num(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _short(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}".removeprefix("0")


def fmt_ci(m: dict[str, Any] | None) -> str:
    if not m:
        return "–"
    ci = m.get("ci") or [None, None]
    if ci[0] is None:
        return fmt_num(m.get("value"))
    return f"{fmt_num(m['value'])} [{_short(ci[0])},{_short(ci[1])}]"


def fmt_guidance(g: float | None) -> str:
    return "–" if g is None else f"{g:g}"


def _source(c: dict[str, Any]) -> str:
    if not c.get("generator"):
        return "real only"
    g = c.get("guidance")
    return c["generator"] + ("" if g is None else f" g{g:g}")


def cells_table(cells: list[dict[str, Any]], title: str = "cells") -> Table:
    """One row per cell; failed cells show 'failed' here and their errors below the table."""
    t = Table(title=title, title_justify="left")
    for col in ("detector", "training data", "ratio", "seed", "mAP50-95 [95% CI]", "mAP50 [95% CI]", "AP10",
                "F1", "AUROC", "s"):
        t.add_column(col, justify="left" if col in ("detector", "training data") else "right", no_wrap=True)
    for r in cells:
        c, m = r["cell"], r.get("metrics") or {}
        frame = m.get("frame") or {}
        if r.get("status") != "ok":
            t.add_row(*_names(c), f"{c['ratio']:g}", str(c["seed"]), "[red]failed[/red]",
                      *["–"] * 4, fmt_num((r.get("timings") or {}).get("total"), 0))
            continue
        t.add_row(*_names(c), f"{c['ratio']:g}", str(c["seed"]), fmt_ci(m.get("mAP50_95")),
                  fmt_ci(m.get("mAP50")), fmt_num((m.get("AP10") or {}).get("value")), fmt_num(frame.get("f1")),
                  fmt_num(frame.get("auroc")), fmt_num((r.get("timings") or {}).get("total"), 0))
    return t


def _names(c: dict[str, Any]) -> tuple[str, str]:
    """The detector and training-data cells as literal text: names and labels come from results.json."""
    return escape(detector_label(c)), escape(_source(c))


def failures(cells: list[dict[str, Any]]) -> list[str]:
    """One plain line per failed cell (not markup: an error may hold any text, ``[/bold]`` included)."""
    return [f"{r['id']}: {r.get('error')}" for r in cells if r.get("status") != "ok"]


def summary_table(summary: list[dict[str, Any]], title: str = "mean ± std over seeds") -> Table:
    t = Table(title=title, title_justify="left")
    names = headline_names(summary)
    for col in ("detector", "training data", "ratio", "seeds", *names):
        t.add_column(col, justify="left" if col in ("detector", "training data") else "right", no_wrap=True)
    for s in summary:
        vals = [mean_std_text(s.get(name)) for name in names]
        t.add_row(*_names(s), f"{s['ratio']:g}", seeds_text(s), *vals)
    return t


__all__ = ["cells_table", "summary_table", "metric_value"]
