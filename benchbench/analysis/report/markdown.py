"""Markdown tables for report.md and ``bench leaderboard show --format markdown``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from benchbench.analysis.report.table import fmt_ci, fmt_guidance, fmt_num
from benchbench.records.summary import detector_label, headline_names, mean_std_text, seeds_text

_ACTIVE = re.compile(r"([\\`*_\[\]<>|&!#~])")  # what markdown or inline HTML would act on
_HTML = re.compile(r"([<>&])")  # what would turn into HTML


class Markdown(str):
    """Text that is already safe markdown (built by this module): tables show it as is."""


def md_text(value: Any) -> Markdown:
    """``value`` as literal text: names and errors come from plugins and results files, and must not
    turn into links, images, HTML or table columns in a report."""
    return Markdown(_ACTIVE.sub(r"\\\1", " ".join(str(value).splitlines())))


def md_code(value: Any) -> Markdown:
    """``value`` as inline code (a backtick in it would end the span, so it becomes a quote)."""
    return Markdown("`" + " ".join(str(value).splitlines()).replace("`", "'") + "`")


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table; pipes inside cells are escaped, and so is what would become HTML
    (callers escape names: md_text; this catches one they missed)."""
    def cell(x: Any) -> str:
        return x if isinstance(x, Markdown) else _HTML.sub(r"\\\1", str(x).replace("|", "\\|").replace("\n", " "))

    lines = ["| " + " | ".join(map(cell, headers)) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(map(cell, r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def summary_rows(summary: list[dict[str, Any]], names: list[str] | None = None) -> tuple[list[str], list[list[Any]]]:
    """Seed summary (mean ± std), one line per (detector, generator, guidance, ratio): headers, rows."""
    names = headline_names(summary) if names is None else names
    rows = []
    for s in summary:
        vals = [mean_std_text(s.get(n), " ± ") for n in names]
        rows.append([md_text(s["detector"]), md_text(s.get("generator") or "real only"),
                     fmt_guidance(s.get("guidance")), f"{s['ratio']:g}", seeds_text(s), *vals])
    return ["detector", "generator", "guidance", "ratio", "seeds", *names], rows


def cells_rows(cells: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Every cell with its metrics and 95% CIs: headers, rows."""
    rows = []
    for r in cells:
        c, m = r["cell"], r.get("metrics") or {}
        frame = m.get("frame") or {}
        status = "ok" if r.get("status") == "ok" else md_text(f"failed: {(r.get('error') or '')[:60]}")
        rows.append([md_text(detector_label(c)), md_text(c.get("generator") or "real only"),
                     fmt_guidance(c.get("guidance")),
                     f"{c['ratio']:g}", c["seed"], status, fmt_ci(m.get("mAP50_95")), fmt_ci(m.get("mAP50")),
                     fmt_num(frame.get("f1")), fmt_num(frame.get("auroc"))])
    return ["detector", "generator", "guidance", "ratio", "seed", "status", "mAP50-95 [95% CI]",
            "mAP50 [95% CI]", "F1", "AUROC"], rows

