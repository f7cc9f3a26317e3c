"""Per-job time limits (the matrix's ``timeout:``), shared by every executor.

The local executor kills a job's worker process at its deadline. Ray and SLURM workers are not
ours to kill, so there the job limits itself: a timer signal interrupts the job's Python code.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


class JobTimeout(BaseException):
    """A job ran past its ``timeout``. A BaseException, so that a plugin's ``except Exception``
    cannot swallow it and carry on past its deadline."""


def unit_of(item: Any, index: int | str | None = None) -> str:
    """The job's name in messages: its unit (cell id, generation task) when it has one."""
    return str(getattr(item, "unit", None) or f"job {index}")


def timeout_of(item: Any) -> float | None:
    return getattr(item, "timeout", None)


def timed_out(item: Any, index: int | str | None = None) -> JobTimeout:
    return JobTimeout(f"{unit_of(item, index)} timed out after {timeout_of(item):g} s and was stopped")


@contextlib.contextmanager
def time_limit(item: Any) -> Iterator[None]:
    """Raise :class:`JobTimeout` in this code once the item's timeout has passed.

    Only in a main thread with SIGALRM (Ray tasks and SLURM jobs run there); elsewhere no limit is
    enforced. Code stuck in C without returning to Python is interrupted when it returns.
    """
    seconds = timeout_of(item)
    if not seconds or threading.current_thread() is not threading.main_thread() \
            or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise timed_out(item)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
