"""The default executor: jobs in N spawned worker processes (one with ``workers: 1``).

Even one worker is a child process: the driver, which records every result, survives
anything a plugin does, and a job with a ``timeout`` can be killed (executors/workers.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from benchbench.executors.workers import Progress, WorkerPool


class LocalExecutor:
    name = "local"

    def __init__(self, workers: int = 1):
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            from benchbench.api import UserError

            raise UserError(f"workers must be a positive integer (got {workers!r})", field="executor.workers",
                            fix="use --workers 1 or more")
        self.workers = workers
        self._pool: WorkerPool | None = None

    def map(self, fn: Callable[..., Any], items: Sequence[Any], on_result: Callable[[int, Any], None],
            progress: Progress | None = None) -> None:
        if not items:
            return
        if self._pool is None:
            self._pool = WorkerPool(self.workers, worker_threads(self.workers))
        self._pool.map(fn, items, on_result, progress)

    def close(self) -> None:
        """Stop the idle workers (the runner calls this when the run ends)."""
        if self._pool is not None:
            self._pool.close()


def worker_threads(workers: int) -> int:
    """Threads per worker so that the pool fills the CPUs without oversubscribing them."""
    return max(1, (os.cpu_count() or 1) // workers)
