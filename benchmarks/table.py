"""The rich table of a suite run: every figure with its same-run reference, ratio and target."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "":
        return f"{value:.3g}"
    if unit == "frames":
        return f"{value:,.0f} {unit}"
    if unit in ("s", "ms"):
        return f"{value:.3f} {unit}" if value < 10 else f"{value:.1f} {unit}"
    return f"{value:,.3g} {unit}"


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "–"
    return f"{ratio:.3g}×"


def fmt_result(fig: dict[str, Any]) -> str:
    if fig.get("skipped"):
        return f"[yellow]skipped[/yellow]: {fig['skipped'][:70]}"
    if fig.get("met") is True:
        return "[green]met[/green]"
    if fig.get("met") is False:
        if (fig.get("details") or {}).get("met_on_cpu_time"):
            return "[red]not met[/red] [yellow](met on CPU time)[/yellow]"
        return "[red]not met[/red]"
    return "[dim]info[/dim]"


def suite_table(doc: dict[str, Any]) -> Table:
    when = f"{doc['date']} @ {(doc.get('commit') or 'unknown commit')[:12]}"
    t = Table(title=f"benchbench performance suite — {when}" + (" (--quick)" if doc.get("quick") else ""),
              caption=caption(doc), caption_justify="left")
    for col, justify in (("benchmark", "left"), ("figure", "left"), ("value", "right"), ("reference", "left"),
                         ("ratio", "right"), ("target", "left"), ("result", "left")):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, bench in doc["benchmarks"].items():
        if bench["status"] != "ok":
            t.add_row(name, "[red]error[/red]", "", "", "", "", f"[red]{(bench.get('error') or '')[:90]}[/red]")
            continue
        for i, fig in enumerate(bench["figures"]):
            ref = fig.get("reference") or "–"
            if fig.get("reference_value") is not None:
                ref = f"{ref}: {fmt_value(fig['reference_value'], fig['unit'])}"
            t.add_row(name if i == 0 else "", fig["name"], fmt_value(fig.get("value"), fig["unit"]), ref,
                      fmt_ratio(fig.get("ratio")), fig.get("target") or "–", fmt_result(fig))
    return t


def caption(doc: dict[str, Any]) -> str:
    s = doc["summary"]
    parts = [f"{s['met']} met, {s['not_met']} not met, {s['info']} informational, {s['skipped']} skipped, "
             f"{s['errors']} benchmark errors"]
    m = doc["machine"]
    parts.append(f"load average {m.get('load_average_start')} → {m.get('load_average_end')} on "
                 f"{m.get('cpu_count')} CPUs")
    if doc.get("loaded"):
        parts.append("[yellow]machine loaded during the run: wall-clock figures are inflated; ratios against "
                     "same-run references and the cpu_* details are steadier[/yellow]")
    return "\n".join(parts)
