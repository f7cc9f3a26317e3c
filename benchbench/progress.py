"""Rich live progress for a run: a bar over cells and one line per running unit (its epoch, batch, ...)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class RunProgress:
    def __init__(self, console: Console):
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[phase]}"), console=console,
                                 transient=False)
        self.cells: Any = None
        self.units: dict[str, Any] = {}  # unit (cell, generation, labelling) -> its line; several with workers

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def start(self, total: int, already: int) -> None:
        self.cells = self.progress.add_task("cells", total=total, completed=already,
                                            phase=f"{already} resumed" if already else "")

    def phase(self, unit: str, phase: str, frac: float | None) -> None:
        if unit not in self.units:
            self.units[unit] = self.progress.add_task(escape(unit[:48]), total=1.0, phase="")
        # a plugin's own words (ctx.report): literal text, never markup
        self.progress.update(self.units[unit], phase=escape(str(phase)), completed=frac if frac is not None else 0.0)

    def unit_done(self, unit: str) -> None:
        task = self.units.pop(unit, None)
        if task is not None:
            self.progress.remove_task(task)

    def cell_done(self, result: dict[str, Any], mark: str | None = None) -> None:
        """One more cell on the bar; ``mark`` (rich markup) replaces its "ok"/"failed"."""
        self.unit_done(result["id"])
        mark = mark or ("ok" if result.get("status") == "ok" else "[red]failed[/red]")
        self.progress.update(self.cells, advance=1, phase=f"{escape(result['id'])} {mark}")
