"""Run jobs as Ray tasks: on an existing cluster (``-x address=auto``) or on a local one.

One task per job, with ``num_cpus``/``num_gpus`` so Ray's scheduler packs GPU trainings onto
GPUs. Results come back to the driver as tasks finish (``ray.wait``), where the runner writes
cell files atomically: a worker never writes a result, so a lost worker leaves nothing half
written, and Ray re-runs its task (``max_retries``). A plugin exception is a result, never retried.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from benchbench.executors.options import engine_options
from benchbench.executors.queue import Job, JobQueue, QueueExecutor
from benchbench.executors.remote import RemoteCall, job_label, passthrough_env


def _run(call: RemoteCall, item: Any) -> Any:
    # Module-level so that workers import it by reference instead of unpickling a closure.
    return call(item)


class RayOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(None, description="a cluster to join: auto, host:port or ray://host:10001; "
                                                  "unset: a local cluster")
    num_cpus: float = Field(1, ge=0, description="CPUs of one job (fractions allowed)")
    num_gpus: float = Field(0, ge=0, description="GPUs of one job; 0.5 runs two jobs per GPU")
    max_retries: int = Field(3, ge=0, strict=True, description="re-runs of a job whose worker or node died "
                                                              "(plugin exceptions are never retried)")
    runtime_env: dict[str, Any] | None = Field(None, description="a Ray runtime environment; its env_vars are "
                                                                 "added to the forwarded BENCHBENCH_*, HF_*, ...")
    workers: int | None = Field(None, ge=1, strict=True, description="size of a local cluster, in jobs at once "
                                                                     "(default: every CPU); ignored with address")
    log_to_driver: bool = Field(False, description="stream worker output to this terminal")


class RayExecutor(QueueExecutor):
    name = "ray"

    def __init__(self, **options: Any):
        """Options: :class:`RayOptions` (docs/scale-out.md)."""
        o, _ = engine_options(RayOptions, options, "ray", engine="ray", extra="ray")
        self.address = o["address"]
        self.num_cpus, self.num_gpus = o["num_cpus"], o["num_gpus"]
        self.max_retries = o["max_retries"]
        self.workers = o["workers"]
        self.log_to_driver = o["log_to_driver"]
        user_env = dict(o["runtime_env"] or {})
        self.runtime_env = {**user_env, "env_vars": {**passthrough_env(), **user_env.get("env_vars", {})}}
        self._task_env: dict[str, Any] | None = None

    def _connect(self) -> None:
        """Start or join Ray once per driver; later stages of the same run reuse the connection."""
        import ray  # ray: heavy, off the start-up path

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

    def run(self, queue: JobQueue, progress: Callable[[str, str, float | None], None] | None = None) -> None:
        """Submit each job as it becomes ready; Ray's scheduler packs them onto the cluster's resources."""
        # progress is not forwarded: a task cannot call back into the driver; results still stream in.
        import ray

        self._connect()
        remote = ray.remote(_run)
        calls: dict[Any, Any] = {}  # job function -> its RemoteCall in the object store
        running: dict[Any, Job] = {}
        try:
            while not queue.finished:
                while (job := queue.take()) is not None:
                    if job.fn not in calls:
                        calls[job.fn] = ray.put(RemoteCall(job.fn, os.getcwd()))
                    opts: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus,
                                            "max_retries": self.max_retries, "retry_exceptions": False,
                                            "name": job_label(job.fn, job.item, job.key)}
                    if self._task_env is not None:
                        opts["runtime_env"] = self._task_env
                    running[remote.options(**opts).remote(calls[job.fn], job.item)] = job
                if not running:
                    if queue.finished:
                        return
                    raise queue.stuck()
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    try:
                        res = ray.get(ref)
                    except Exception as exc:  # worker lost more than max_retries times, node died, ...
                        res = exc
                    queue.done(running.pop(ref), res)
        finally:
            # The driver stopped early (Ctrl-C, an error writing a result): do not leave tasks
            # computing cells nobody will record. A restarted driver resumes from the cell files.
            for ref in running:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # already finished or the cluster is gone: nothing left to stop
                    pass
