"""The default executor: in-process (sequential) or a pool of spawned processes."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

Progress = Callable[[str, str, float | None], None]
_STOP = None
_queue: Any = None  # in a worker: where its jobs' progress goes (set by share_cpus)


class LocalExecutor:
    name = "local"

    def __init__(self, workers: int = 1):
        if not isinstance(workers, int) or workers < 1:
            from benchbench.api import UserError

            raise UserError(f"workers must be a positive integer (got {workers!r})", field="executor.workers",
                            fix="use --workers 1 or more")
        self.workers = workers

    def map(self, fn: Callable[..., Any], items: Sequence[Any], on_result: Callable[[int, Any], None],
            progress: Progress | None = None) -> None:
        if self.workers == 1 or len(items) <= 1:
            for i, item in enumerate(items):
                try:
                    res = fn(item, progress)
                except Exception as exc:
                    res = exc
                on_result(i, res)
            return
        # spawn, not fork: torch and threads in the driver make forked children unsafe.
        ctx = mp.get_context("spawn")
        queue = ctx.Queue() if progress is not None else None
        relay = threading.Thread(target=_relay, args=(queue, progress), daemon=True) if queue else None
        if relay:
            relay.start()
        try:
            with cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=share_cpus,
                                        initargs=(worker_threads(self.workers), queue)) as pool:
                futures = {pool.submit(_call, fn, item): i for i, item in enumerate(items)}
                for fut in cf.as_completed(futures):
                    try:
                        res = fut.result()
                    except Exception as exc:  # includes a worker that died (BrokenProcessPool)
                        res = exc
                    on_result(futures[fut], res)
        finally:
            if relay:
                queue.put(_STOP)
                relay.join(timeout=5)


def worker_threads(workers: int) -> int:
    """Threads per worker so that the pool fills the CPUs without oversubscribing them."""
    return max(1, (os.cpu_count() or 1) // workers)


def share_cpus(threads: int, queue: Any = None) -> None:
    """Worker initializer: CPU threads for this worker, and the queue its progress goes to."""
    global _queue
    # N workers x the default threads (one per CPU) leaves OpenMP threads spin-waiting for each
    # other, which made small models several times slower here. A user's own setting wins.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    _queue = queue


def _call(fn: Callable[..., Any], item: Any) -> Any:
    report = (lambda unit, phase, frac: _queue.put((unit, phase, frac))) if _queue is not None else None
    return fn(item, report)


def _relay(queue: Any, progress: Progress) -> None:
    """Driver thread: hand the workers' progress (epochs, batches) to the live display."""
    while (msg := queue.get()) is not _STOP:
        try:
            progress(*msg)
        except Exception:  # a display hiccup must never stop a run
            pass
