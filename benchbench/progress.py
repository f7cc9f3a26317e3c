"""Rich live progress for a run: a bar over cells and a line for the phase inside the current unit."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class RunProgress:
    def __init__(self, console: Console):
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[phase]}"), console=console,
                                 transient=False)
        self.cells: Any = None
        self.unit: Any = None

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def start(self, total: int, already: int) -> None:
        self.cells = self.progress.add_task("cells", total=total, completed=already,
                                            phase=f"{already} resumed" if already else "")
        self.unit = self.progress.add_task("", total=1.0, phase="", visible=False)

    def phase(self, unit: str, phase: str, frac: float | None) -> None:
        self.progress.update(self.unit, description=unit[:48], phase=phase, visible=True,
                             completed=frac if frac is not None else 0.0)

    def cell_done(self, result: dict[str, Any]) -> None:
        mark = "ok" if result.get("status") == "ok" else "[red]failed[/red]"
        self.progress.update(self.cells, advance=1, phase=f"{result['id']} {mark}")
