"""Observers (``benchbench_cell_finished``: the leaderboard, MLflow) off the driver's critical path.

A finished cell is written to its file first; then the runner hands it to one background thread
that calls every observer, and goes on at once: an unreachable tracking server costs the run no
time while it runs. When the run ends the thread gets a deadline (``BENCHBENCH_OBSERVER_DEADLINE``
seconds, default 60) to finish its queue; the cells still waiting then are left unobserved, with
one warning (the leaderboard's can be added later with ``bench leaderboard submit RUN_DIR``). An
observer that fails gives one warning for the whole run, however many cells it failed on.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from typing import Any

from benchbench.errors import error_line

DEADLINE_S = 60.0
MAX_WAITING = 10_000  # cells queued for observers; past it a cell is not observed (and counted)


def deadline_s() -> float:
    try:
        return max(0.0, float(os.environ.get("BENCHBENCH_OBSERVER_DEADLINE", DEADLINE_S)))
    except ValueError:
        return DEADLINE_S


class Observers:
    """One thread calling the plugins' observers on finished cells, in the order they finished."""

    def __init__(self, plugins: Any):
        self.plugins = plugins
        self._queue: queue.Queue[tuple[Any, dict[str, Any]] | None] = queue.Queue(MAX_WAITING)
        self._thread: threading.Thread | None = None
        self._failures: dict[str, tuple[int, str]] = {}  # plugin -> (cells it failed on, its first error)
        self._dropped = 0
        self._lock = threading.Lock()

    def submit(self, cell: Any, result: dict[str, Any]) -> None:
        """Queue a finished cell for the observers; never waits."""
        if not self.plugins.pm.hook.benchbench_cell_finished.get_hookimpls():
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, daemon=True, name="benchbench-observers")
            self._thread.start()
        try:
            self._queue.put_nowait((cell, result))
        except queue.Full:
            self._dropped += 1

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            cell, result = item
            failed = self.plugins.call_each("benchbench_cell_finished",
                                            lambda _p, c=cell, r=result: {"cell": c, "result": r})
            with self._lock:
                for plugin, exc in failed:
                    n, first = self._failures.get(plugin, (0, error_line(exc)))
                    self._failures[plugin] = (n + 1, first)

    def close(self, deadline: float | None = None) -> list[str]:
        """Let the observers finish for up to ``deadline`` seconds; the warnings of the run, one a problem."""
        wait = deadline_s() if deadline is None else deadline
        if self._thread is not None:
            end = time.monotonic() + wait
            try:  # the end marker goes after the cells already queued: they are observed first
                self._queue.put(None, timeout=wait)
            except queue.Full:
                pass
            self._thread.join(max(0.0, end - time.monotonic()))
        warnings = []
        with self._lock:
            for plugin, (n, first) in sorted(self._failures.items()):
                warnings.append(f"plugin {plugin}: benchbench_cell_finished failed on {n} cell{'s' * (n > 1)}: "
                                f"{first}")
        if self._thread is not None and self._thread.is_alive():
            late = self._queue.qsize()  # the cells still queued (the end marker counts for the one in progress)
            warnings.append(f"observers did not finish within {wait:g} s "
                            f"(BENCHBENCH_OBSERVER_DEADLINE): the last {late} finished cell(s) may not be observed")
        if self._dropped:
            warnings.append(f"{self._dropped} finished cell(s) were not observed: over {MAX_WAITING} were waiting")
        self._thread = None
        return warnings

