"""Rich live progress for a run: a bar over cells and one line per running unit (its epoch, batch, ...)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text


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


class LogProgress:
    """Progress as plain lines, for a run whose stderr is a log file (``nohup bench run … &``): a live display
    there prints nothing until the run ends, so each finished cell and generation gets one timestamped line."""

    def __init__(self, console: Console, metric: str = "AP10"):
        self.console, self.metric = console, metric
        self.total = self.done = 0
        self.started: dict[str, float] = {}  # unit -> when its first phase arrived

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def _line(self, text: str) -> None:
        self.console.print(f"{time.strftime('%H:%M:%S')} {text}", markup=False, highlight=False, soft_wrap=True)

    def start(self, total: int, already: int) -> None:
        self.total, self.done = total, already
        self._line(f"{total} cells: {already} finished, {total - already} to run")

    def phase(self, unit: str, phase: str, frac: float | None) -> None:
        self.started.setdefault(unit, time.monotonic())

    def unit_done(self, unit: str) -> None:
        t0 = self.started.pop(unit, None)
        if t0 is not None:
            self._line(f"done {unit} ({time.monotonic() - t0:.0f} s)")

    def cell_done(self, result: dict[str, Any], mark: str | None = None) -> None:
        self.started.pop(result["id"], None)
        self.done += 1
        if mark:  # the caller's word for it, e.g. "rescored" (rich markup on the live bar, plain here)
            what = Text.from_markup(mark).plain
        elif result.get("status") == "ok":
            value = ((result.get("metrics") or {}).get(self.metric) or {}).get("value")
            what = "ok" + (f" {self.metric} {value:.3f}" if isinstance(value, int | float) else "")
            fit = (result.get("timings") or {}).get("fit")
            what += f", fit {fit:.0f} s" if isinstance(fit, int | float) else ""
        else:
            what = f"FAILED: {result.get('error') or 'no error recorded'}"
        self._line(f"[{self.done}/{self.total}] {result['id']} {what}")


def progress_for(console: Console, metric: str = "AP10") -> RunProgress | LogProgress:
    """The live display on a terminal, a line per finished unit anywhere else (a log file, a pipe, CI)."""
    return RunProgress(console) if console.is_terminal else LogProgress(console, metric)
