"""Jobs handed to an executor as their dependencies finish, not stage by stage.

The runner puts every job of a run in one :class:`JobQueue` with the keys of the jobs it needs.
An executor takes ready jobs (``take``) while it has room, and reports each end (``done``) in the
driver; that may make other jobs ready. A job's picklable item is built only when it is taken,
from its dependencies' results, so a synthetic cell's training set exists once its frames do.
A job whose item cannot be built (its generation failed) ends at once with that error, and so
fails only what depends on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Job:
    key: str  # unique in its queue; what other jobs name in ``after``
    fn: Callable[..., Any]  # module-level, so workers import it by reference
    make: Callable[[], Any]  # builds the item once every job in ``after`` has ended
    on_result: Callable[[Any], None]  # in the driver: the result, or the exception the job ended with
    after: tuple[str, ...] = ()
    item: Any = None


@dataclass
class JobQueue:
    jobs: list[Job]
    _waiting: dict[str, set[str]] = field(init=False)
    _ended: set[str] = field(init=False, default_factory=set)
    _ready: list[Job] = field(init=False, default_factory=list)
    _needed_by: dict[str, list[Job]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        keys = {j.key for j in self.jobs}
        if len(keys) != len(self.jobs):
            raise ValueError("job keys must be unique")
        # a dependency outside the queue has ended already (a finished cell of an earlier run)
        self._waiting = {j.key: {k for k in j.after if k in keys} for j in self.jobs}
        for j in self.jobs:
            for k in self._waiting[j.key]:
                self._needed_by.setdefault(k, []).append(j)
        self._ready = [j for j in self.jobs if not self._waiting[j.key]]

    @classmethod
    def of(cls, fn: Callable[..., Any], items: Sequence[Any], on_result: Callable[[int, Any], None]) -> JobQueue:
        """Independent jobs ``fn(item)`` reporting ``on_result(index, result)`` (``Executor.map``)."""
        return cls([Job(str(i), fn, (lambda it=it: it), (lambda res, i=i: on_result(i, res)))
                    for i, it in enumerate(items)])

    @property
    def finished(self) -> bool:
        return len(self._ended) == len(self.jobs)

    def take(self) -> Job | None:
        """A ready job with its item built, or None when none is ready now (wait for a ``done``)."""
        while self._ready:
            job = self._ready.pop(0)  # plan order: generation and baselines unlock the most work
            try:
                job.item = job.make()
            except Exception as exc:  # a dependency failed: the job ends here, naming it
                self.done(job, exc)
                continue
            return job
        return None

    def done(self, job: Job, result: Any) -> None:
        """Record ``job``'s end (in the driver) and release the jobs that waited for it."""
        self._ended.add(job.key)
        job.item = None  # a cell's frame lists are not needed once it has ended
        job.on_result(result)
        for other in self._needed_by.pop(job.key, []):
            waiting = self._waiting[other.key]
            waiting.discard(job.key)
            if not waiting:
                self._ready.append(other)

    def stuck(self) -> RuntimeError:
        """The error for an executor that has nothing running, nothing ready and jobs left (a cycle)."""
        left = [j.key for j in self.jobs if j.key not in self._ended]
        return RuntimeError(f"{len(left)} job(s) wait for jobs that never end, e.g. {left[0]}")


def run_in_order(queue: JobQueue, call: Callable[[Job], Any]) -> None:
    """Run the queue one job at a time in this process, ``call(job)`` giving the result or raising."""
    while not queue.finished:
        job = queue.take()
        if job is None:
            if queue.finished:
                return
            raise queue.stuck()
        try:
            res = call(job)
        except Exception as exc:  # the Executor contract: an exception is the job's result
            res = exc
        queue.done(job, res)


class QueueExecutor:
    """What every built-in executor shares: ``map`` is a queue of independent jobs."""

    def run(self, queue: JobQueue, progress: Callable[[str, str, float | None], None] | None = None) -> None:
        raise NotImplementedError

    def map(self, fn: Callable[..., Any], items: Sequence[Any], on_result: Callable[[int, Any], None],
            progress: Callable[[str, str, float | None], None] | None = None) -> None:
        if items:
            self.run(JobQueue.of(fn, items, on_result), progress)


@dataclass
class Bound:
    """A job's function and item as one picklable item, for executors that only offer ``map``."""

    fn: Callable[..., Any]
    item: Any

    @property
    def timeout(self) -> float | None:
        return getattr(self.item, "timeout", None)

    @property
    def unit(self) -> str | None:
        return getattr(self.item, "unit", None)


def call_bound(bound: Bound, progress: Callable[[str, str, float | None], None] | None = None) -> Any:
    return bound.fn(bound.item) if progress is None else bound.fn(bound.item, progress)


def run_in_waves(executor: Any, queue: JobQueue, progress: Callable[[str, str, float | None], None] | None) -> None:
    """Drive an executor that has ``map`` but no ``run`` (a third-party one written before ``run``):
    every ready job at once, then the jobs that became ready meanwhile, and so on."""
    while not queue.finished:
        wave = []
        while (job := queue.take()) is not None:
            wave.append(job)
        if not wave:
            if queue.finished:
                return
            raise queue.stuck()
        executor.map(call_bound, [Bound(j.fn, j.item) for j in wave],
                     lambda i, res, w=wave: queue.done(w[i], res), progress)
