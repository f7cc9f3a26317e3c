"""Worker processes of the local executor: one job at a time each, watched by the driver.

Every job runs in a spawned child so that whatever a plugin does there (``sys.exit``, a
segfault, ``os._exit``, an OOM kill, a hang) costs that job only: the driver sees the child
exit, or the job's deadline pass, fails that one job with the reason, and starts a fresh child
for the next job. Children die with the driver, even when it is SIGKILLed.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import Any

from benchbench.executors.deadline import timed_out, timeout_of, unit_of
from benchbench.executors.queue import Job, JobQueue
from benchbench.executors.remote import picklable
from benchbench.isolation import job_log, output_to, stdout_to_stderr

Progress = Callable[[str, str, float | None], None]
PARENT_POLL_S = 1.0  # how soon a worker notices that the driver is gone where prctl is missing


class WorkerDied(RuntimeError):
    """The worker process running a job ended before returning its result."""


def exit_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = str(-exitcode)
        hint = " (out of memory?)" if -exitcode == signal.SIGKILL else ""
        return f"was killed by signal {name}{hint}"
    return f"exited with code {exitcode}"


# --------------------------------------------------------------------------- in the worker
def _die_with_parent(parent: int) -> None:
    """Make sure this worker never outlives the driver, even one killed by SIGKILL."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG

    # Also a watchdog: prctl is Linux-only, and the driver may have died before it was set.
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="benchbench-parent-watch").start()


def worker_main(conn: Any, threads: int | None, parent: int) -> None:
    """A worker's life: receive (fn, item), send progress messages and one result, repeat."""
    _die_with_parent(parent)
    stdout_to_stderr()  # the driver's stdout may be `bench run --json`'s: nothing of a worker's goes there
    # A real Ctrl-C is the driver's to handle (it stops the workers); in here, a KeyboardInterrupt
    # can only come from a plugin, and fails its job like any other exception.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)  # own process group: a timeout kills the job's own children too
    # N workers x the default threads (one per CPU) leave OpenMP threads spin-waiting for each
    # other, which made small models several times slower here. A user's own setting wins.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if threads else ():
        os.environ.setdefault(var, str(threads))
    lock = threading.Lock()  # plugins may report progress from their own threads

    def send(msg: Any) -> None:
        with lock:
            conn.send(msg)

    def report(unit: str, phase: str, frac: float | None) -> None:
        with contextlib.suppress(Exception):  # progress is best effort; the result is what counts
            send(("progress", unit, phase, frac))

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        fn, item = msg
        send(("started",))  # the job's time starts now, not while a fresh worker was still importing
        try:
            with output_to(job_log(item)):  # a plugin's prints go to its cell's log
                out: tuple[str, Any] = ("ok", fn(item, report))
        except BaseException as exc:  # noqa: BLE001 - SystemExit from a plugin is the job's failure too
            out = ("error", picklable(exc))
        try:
            send(("result", *out))
        except Exception as exc:  # the result itself cannot be pickled
            send(("result", "error", RuntimeError(f"the job's result cannot be sent to the driver: {exc}")))


# --------------------------------------------------------------------------- in the driver
class _Worker:
    def __init__(self, ctx: Any, threads: int | None):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=worker_main, args=(child, threads, os.getpid()),
                                name="benchbench-worker")
        self.proc.start()
        child.close()
        self.job: Job | None = None  # the job it runs
        self.deadline: float | None = None

    def kill(self) -> None:
        if self.proc.is_alive():
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                self.proc.kill()
        self.proc.join(5)
        self.conn.close()

    def stop(self) -> None:
        """Ask an idle worker to leave, then make sure it did."""
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.proc.join(2)
        self.kill()


class WorkerPool:
    """Up to ``size`` worker processes, kept across ``run`` calls (they keep their imported plugins)."""

    def __init__(self, size: int, threads: int | None):
        self.size, self.threads = size, threads
        self.ctx = mp.get_context("spawn")  # not fork: torch and threads in the driver make forks unsafe
        self.idle: list[_Worker] = []
        self._closed_at_exit = False

    def _take(self) -> _Worker:
        while self.idle:
            w = self.idle.pop()
            if w.proc.is_alive():
                return w
            w.kill()
        if not self._closed_at_exit:
            atexit.register(self.close)  # never leave children for multiprocessing's exit join
            self._closed_at_exit = True
        return _Worker(self.ctx, self.threads)

    def run(self, queue: JobQueue, progress: Progress | None = None) -> None:
        """Run the queue's jobs, taking a ready one whenever a worker is free."""
        busy: list[_Worker] = []
        try:
            while not queue.finished:
                while len(busy) < self.size and (job := queue.take()) is not None:
                    w = self._take()
                    try:
                        w.conn.send((job.fn, job.item))
                    except Exception as exc:  # the job cannot be pickled
                        self.idle.append(w)
                        queue.done(job, exc)
                        continue
                    w.job, w.deadline = job, None
                    busy.append(w)
                if not busy:
                    if queue.finished:
                        return
                    raise queue.stuck()
                busy = self._step(busy, queue, progress)
        except BaseException:
            for w in busy:  # Ctrl-C or a driver error: no job may go on computing unrecorded
                w.kill()
            raise

    def _step(self, busy: list[_Worker], queue: JobQueue, progress: Progress | None) -> list[_Worker]:
        """Wait for one event (a message, a worker's exit, a deadline); return the still-busy workers."""
        deadlines = [w.deadline for w in busy if w.deadline is not None]
        wait_s = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        wait([x for w in busy for x in (w.conn, w.proc.sentinel)], timeout=wait_s)
        still = []
        for w in busy:
            job = w.job
            assert job is not None
            if w.conn.poll():  # messages first: a worker may exit right after sending its result
                try:
                    msg = w.conn.recv()
                except (EOFError, OSError):
                    msg = None
                if msg and msg[0] == "started":
                    timeout = timeout_of(job.item)
                    w.deadline = (time.monotonic() + timeout) if timeout else None
                    still.append(w)
                    continue
                if msg and msg[0] == "progress":
                    if progress is not None:
                        with contextlib.suppress(Exception):  # a display hiccup must never stop a run
                            progress(*msg[1:])
                    still.append(w)
                    continue
                if msg and msg[0] == "result":
                    w.job = w.deadline = None
                    self.idle.append(w)
                    queue.done(job, msg[2])
                    continue
            if not w.proc.is_alive():
                w.proc.join()
                w.conn.close()
                queue.done(job, WorkerDied(f"the worker process running {unit_of(job.item, job.key)} "
                                           f"{exit_reason(w.proc.exitcode)}; a fresh worker runs the next job"))
            elif w.deadline is not None and time.monotonic() >= w.deadline:
                w.kill()
                queue.done(job, timed_out(job.item, job.key))
            else:
                still.append(w)
        return still

    def close(self) -> None:
        while self.idle:
            self.idle.pop().stop()
