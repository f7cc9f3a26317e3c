"""The default executor: jobs in N spawned worker processes (one with ``workers: 1``).

Even one worker is a child process: the driver, which records every result, survives
anything a plugin does, and a job with a ``timeout`` can be killed (executors/workers.py).
``in_process: true`` gives that up to run jobs in the driver itself, where a debugger
(``breakpoint()`` in a plugin) can reach them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from benchbench.executors.workers import Progress, WorkerPool


class LocalExecutor:
    name = "local"

    def __init__(self, workers: int = 1, in_process: bool = False):
        from benchbench.errors import UserError

        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise UserError(f"workers must be a positive integer (got {workers!r})", field="executor.workers",
                            fix="use --workers 1 or more")
        if not isinstance(in_process, bool) or (in_process and workers > 1):
            raise UserError(f"in_process must be true or false, and true only with one worker (got "
                            f"{in_process!r} with {workers} workers)", field="executor.in_process",
                            fix="leave in_process out, or use it with workers: 1 to debug a plugin")
        self.workers, self.in_process = workers, in_process
        self._pool: WorkerPool | None = None

    def map(self, fn: Callable[..., Any], items: Sequence[Any], on_result: Callable[[int, Any], None],
            progress: Progress | None = None) -> None:
        if not items:
            return
        if self.in_process:
            for i, item in enumerate(items):
                try:
                    res = fn(item, progress)
                except Exception as exc:  # no containment here: a sys.exit() or a crash ends the run
                    res = exc
                on_result(i, res)
            return
        if self._pool is None:
            # one worker keeps the libraries' own thread defaults, as the driver itself would have
            self._pool = WorkerPool(self.workers, worker_threads(self.workers) if self.workers > 1 else None)
        self._pool.map(fn, items, on_result, progress)

    def close(self) -> None:
        """Stop the idle workers (the runner calls this when the run ends)."""
        if self._pool is not None:
            self._pool.close()


def worker_threads(workers: int) -> int:
    """Threads per worker so that the pool fills the CPUs without oversubscribing them."""
    return max(1, (os.cpu_count() or 1) // workers)
