"""Run jobs as Ray tasks: on an existing cluster (``--address auto``) or on a local one.

One task per job, with ``num_cpus``/``num_gpus`` so Ray's scheduler packs GPU trainings onto
GPUs. Results come back to the driver as tasks finish (``ray.wait``), where the runner writes
cell files atomically: a worker never writes a result, so a lost worker leaves nothing half
written, and Ray re-runs its task (``max_retries``). A plugin exception is a result, never retried.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

from benchbench.errors import MissingDependency, UserError
from benchbench.executors.remote import RemoteCall, job_label, passthrough_env


def _run(call: RemoteCall, item: Any) -> Any:
    # Module-level so that workers import it by reference instead of unpickling a closure.
    return call(item)


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: float = 1, num_gpus: float = 0,
                 max_retries: int = 3, runtime_env: dict[str, Any] | None = None, workers: int | None = None,
                 log_to_driver: bool = False):
        """
        address: a cluster to join (``auto``, ``host:port``, ``ray://host:10001``); None starts a local one.
        num_cpus, num_gpus: resources of ONE job (task); fractions allowed (0.5 GPU = two jobs per GPU).
        max_retries: re-runs of a job whose worker or node died (plugin exceptions are never retried).
        runtime_env: Ray runtime environment; its env_vars are added to the forwarded BENCHBENCH_*, HF_*, ...
        workers: size of a local cluster, in jobs at once (default: every CPU); ignored with an address.
        log_to_driver: stream worker output to this terminal (off: it lands in Ray's session logs).
        """
        try:
            import ray  # noqa: F401  (imported here: the extra is optional and slow to import)
        except ImportError:
            raise MissingDependency("ray", extra="ray", purpose="--executor ray") from None
        _check_number("num_cpus", num_cpus, minimum=0)
        _check_number("num_gpus", num_gpus, minimum=0)
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
            raise UserError(f"max_retries must be a non-negative integer (got {max_retries!r})",
                            field="executor.max_retries", fix="use e.g. max_retries: 3")
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise UserError(f"workers must be a positive integer (got {workers!r})", field="executor.workers",
                            fix="use --workers 1 or more")
        if runtime_env is not None and not isinstance(runtime_env, dict):
            raise UserError("runtime_env must be a mapping", field="executor.runtime_env",
                            fix="e.g. runtime_env: {env_vars: {CUDA_LAUNCH_BLOCKING: '1'}}")
        self.address = address
        self.num_cpus, self.num_gpus = num_cpus, num_gpus
        self.max_retries = max_retries
        self.workers = workers
        self.log_to_driver = log_to_driver
        user_env = dict(runtime_env or {})
        self.runtime_env = {**user_env, "env_vars": {**passthrough_env(), **user_env.get("env_vars", {})}}
        self._task_env: dict[str, Any] | None = None

    def _connect(self) -> None:
        """Start or join Ray once per driver; later stages of the same run reuse the connection."""
        import ray

        if ray.is_initialized():
            # Someone (a notebook, a test, an earlier run in this process) already connected with its own
            # job-level runtime_env, which ray.init would silently ignore: attach ours to each task instead.
            self._task_env = self.runtime_env
            return
        common = {"runtime_env": self.runtime_env, "log_to_driver": self.log_to_driver,
                  "logging_level": logging.WARNING, "ignore_reinit_error": True}
        if self.address:
            ray.init(address=self.address, **common)
        else:
            # A local cluster of N CPUs runs N / num_cpus jobs at once: size it so --workers means jobs.
            cpus = max(1, math.ceil(self.workers * self.num_cpus)) if self.workers else None
            # No dashboard: it costs seconds and memory on a laptop, and nothing here reads it.
            ray.init(num_cpus=cpus, include_dashboard=False, **common)

    def map(self, fn: Callable[..., Any], items: Sequence[Any], on_result: Callable[[int, Any], None],
            progress: Callable[[str, str, float | None], None] | None = None) -> None:
        # progress is not forwarded: a task cannot call back into the driver; results still stream in.
        if not items:
            return
        import ray

        self._connect()
        remote = ray.remote(_run)
        call = RemoteCall(fn, os.getcwd())
        call_ref = ray.put(call)
        index: dict[Any, int] = {}
        for i, item in enumerate(items):
            opts: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus,
                                    "max_retries": self.max_retries, "retry_exceptions": False,
                                    "name": job_label(fn, item, i)}
            if self._task_env is not None:
                opts["runtime_env"] = self._task_env
            index[remote.options(**opts).remote(call_ref, item)] = i
        pending = list(index)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    try:
                        res = ray.get(ref)
                    except Exception as exc:  # worker lost more than max_retries times, node died, ...
                        res = exc
                    on_result(index[ref], res)
        finally:
            # The driver stopped early (Ctrl-C, an error writing a result): do not leave tasks
            # computing cells nobody will record. A restarted driver resumes from the cell files.
            for ref in pending:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # already finished or the cluster is gone: nothing left to stop
                    pass


def _check_number(field: str, value: Any, *, minimum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise UserError(f"{field} must be a number >= {minimum:g} (got {value!r})", field=f"executor.{field}",
                        fix=f"use e.g. --{field.replace('_', '-')} 1")
