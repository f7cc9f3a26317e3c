"""The default executor: jobs in N spawned worker processes (one with ``workers: 1``).

Even one worker is a child process: the driver, which records every result, survives
anything a plugin does, and a job with a ``timeout`` can be killed (executors/workers.py).
``in_process: true`` gives that up to run jobs in the driver itself, where a debugger
(``breakpoint()`` in a plugin) can reach them.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from benchbench.executors.options import parse_options
from benchbench.executors.queue import JobQueue, QueueExecutor, run_in_order
from benchbench.executors.workers import Progress, WorkerPool


class LocalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    workers: int = Field(1, ge=1, description="worker processes, i.e. jobs at once (--workers sets it)")
    in_process: bool = Field(False, description="run jobs in the driver, for a debugger (one worker only)")

    @field_validator("in_process")
    @classmethod
    def _one_worker(cls, v: bool, info: ValidationInfo) -> bool:
        if v and info.data.get("workers", 1) > 1:
            raise ValueError("in_process runs jobs in the driver, so only with workers: 1")
        return v


class LocalExecutor(QueueExecutor):
    name = "local"

    def __init__(self, **options: Any):
        o = parse_options(LocalOptions, options, "local")
        self.workers, self.in_process = o["workers"], o["in_process"]
        self._pool: WorkerPool | None = None

    def run(self, queue: JobQueue, progress: Progress | None = None) -> None:
        if self.in_process:  # no containment here: a sys.exit() or a crash ends the run
            run_in_order(queue, lambda job: job.fn(job.item, progress))
            return
        if self._pool is None:
            # one worker keeps the libraries' own thread defaults, as the driver itself would have
            self._pool = WorkerPool(self.workers, worker_threads(self.workers) if self.workers > 1 else None)
        self._pool.run(queue, progress)

    def close(self) -> None:
        """Stop the idle workers (the runner calls this when the run ends)."""
        if self._pool is not None:
            self._pool.close()


def worker_threads(workers: int) -> int:
    """Threads per worker so that the pool fills the CPUs without oversubscribing them."""
    return max(1, (os.cpu_count() or 1) // workers)
