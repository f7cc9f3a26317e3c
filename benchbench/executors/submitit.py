"""Run jobs as SLURM job arrays through submitit (or its ``local`` backend, for laptops and tests).

The jobs that are ready together become one job array (more are submitted as their dependencies
finish); the driver polls the jobs and hands each result to the runner as it lands, and the runner
writes the cell file. Jobs read frames from the shared cache and write only into the cache and
their own work folder, so a preempted or killed job leaves no result behind, and a requeued one
simply runs the cell again.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from time import sleep
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from benchbench.errors import UserError
from benchbench.executors.options import engine_options
from benchbench.executors.queue import Job, JobQueue, QueueExecutor
from benchbench.executors.remote import RemoteCall, job_label


@dataclass(frozen=True)
class _Job(RemoteCall):
    """The callable submitit pickles: a RemoteCall that asks to be requeued when SLURM preempts it.

    This is submitit's ``Checkpointable`` protocol (submitit only looks for a ``checkpoint``
    method), written without subclassing so that importing this module needs no submitit.
    A cell has no mid-training state worth saving, so the checkpoint is the job itself: on
    preemption or timeout the same job is requeued and runs from the start.
    """

    # submitit requeues a preempted job by raising SystemExit from its signal handler, inside the job:
    # it must get through. A plugin's own sys.exit() then ends its SLURM job, which map() reports as
    # that cell's failure (the job produced no result).
    contains_exit = False

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        from submitit.helpers import DelayedSubmission  # submitit: heavy, off the start-up path

        return DelayedSubmission(self, *args, **kwargs)


class SubmititOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    folder: Path | None = Field(None, description="submitit's pickles and logs, on the shared filesystem "
                                                 "(bench run: RESULTS_DIR/.submitit)")
    cluster: Literal["slurm", "local"] | None = Field(None, description="slurm, local (subprocesses here), or "
                                                                        "unset: SLURM when srun exists")
    partition: str | None = Field(None, description="SLURM partition")
    time: int = Field(120, ge=1, strict=True, description="minutes per job: above your slowest cell")
    gpus_per_node: int = Field(0, ge=0, strict=True, description="GPUs of one job")
    cpus_per_task: int = Field(1, ge=1, strict=True, description="CPUs of one job")
    mem_gb: float | None = Field(None, gt=0, description="memory of one job, GB")
    array_parallelism: int | None = Field(None, ge=1, strict=True, description="jobs running at once (SLURM's "
                                                                               "%N array throttle)")
    workers: int | None = Field(None, ge=1, strict=True, description="alias of array_parallelism (--workers)")
    max_requeue: int = Field(3, ge=0, strict=True, description="requeues of a job that hits its time limit "
                                                               "(preemptions always are)")
    poll_s: float | None = Field(None, gt=0, description="seconds between checks of unfinished jobs "
                                                         "(10 on SLURM, 0.5 locally)")
    slurm: dict[str, Any] | None = Field(None, description="any other submitit slurm_* parameter without the "
                                                           "prefix, e.g. {account: x, qos: y}")


class SubmititExecutor(QueueExecutor):
    name = "submitit"

    def __init__(self, **options: Any):
        """Options: :class:`SubmititOptions` (docs/scale-out.md)."""
        o, submitit = engine_options(SubmititOptions, options, "submitit", engine="submitit", extra="slurm")
        cluster = o["cluster"]
        if cluster == "slurm" and shutil.which("sbatch") is None:
            raise UserError("SLURM's sbatch is not on PATH", field="executor.cluster",
                            fix="run bench on a SLURM login node, or use cluster: local")
        parallel = o["array_parallelism"] if o["array_parallelism"] is not None else o["workers"]
        self.folder = Path(o["folder"]) if o["folder"] is not None else Path("results") / ".submitit"
        self.parallelism = parallel
        extra = {f"slurm_{k}": v for k, v in (o["slurm"] or {}).items()}
        try:
            self._ex = submitit.AutoExecutor(folder=self.folder, cluster=cluster,
                                             slurm_max_num_timeout=o["max_requeue"],
                                             local_max_num_timeout=o["max_requeue"])
            self._ex.update_parameters(
                name="benchbench", timeout_min=o["time"], gpus_per_node=o["gpus_per_node"],
                cpus_per_task=o["cpus_per_task"], mem_gb=o["mem_gb"], slurm_partition=o["partition"],
                slurm_array_parallelism=parallel or 256, **extra)
        except (NameError, ValueError, AssertionError) as exc:  # submitit's way of rejecting parameters
            raise UserError(f"submitit rejected the parameters: {str(exc).splitlines()[0]}", field="executor",
                            fix="check the executor options (docs/scale-out.md)") from None
        self.cluster: str = self._ex.cluster
        poll_s = o["poll_s"]
        self.poll_s = float(poll_s) if poll_s is not None else (10.0 if self.cluster == "slurm" else 0.5)

    def run(self, queue: JobQueue, progress: Callable[[str, str, float | None], None] | None = None) -> None:
        """Submit the ready jobs (one array per function), poll, hand each result back as it lands."""
        # progress is not forwarded: a SLURM job cannot call back into the driver.
        calls: dict[Any, _Job] = {}
        running: dict[Any, Job] = {}
        # SLURM throttles an array itself (%N), so every ready job is submitted. The local backend starts
        # a process per job immediately, so the driver keeps at most `parallelism` of them alive.
        limit = None if self.cluster == "slurm" else (self.parallelism or os.cpu_count() or 1)
        try:
            while not queue.finished:
                ready: list[Job] = []
                while (limit is None or len(running) + len(ready) < limit) and (job := queue.take()) is not None:
                    ready.append(job)
                for fn in dict.fromkeys(j.fn for j in ready):
                    batch = [j for j in ready if j.fn is fn]
                    job_fn = calls.setdefault(fn, _Job(fn, os.getcwd()))
                    self._ex.update_parameters(name=_array_name(fn, batch))
                    handles = self._ex.map_array(job_fn, [j.item for j in batch])
                    running.update(zip(handles, batch, strict=True))
                if not running:
                    if queue.finished:
                        return
                    raise queue.stuck()
                finished = [h for h in running if h.done()]
                for h in finished:
                    job = running.pop(h)
                    try:
                        res = h.result()
                    except Exception as exc:  # killed, out of memory, requeued too often: the job's own error
                        res = exc
                    queue.done(job, res)
                if not finished:
                    sleep(self.poll_s)
        finally:
            # Stopped early (Ctrl-C, an error recording a result): free the cluster; a restarted driver
            # resubmits whatever has no cell file yet.
            for h in running:
                try:
                    h.cancel(check=False)
                except Exception:  # already gone
                    pass


def _array_name(fn: Callable[..., Any], batch: list[Job]) -> str:
    """squeue shows the job function, and the unit for a single job (e.g. 'benchbench:run_cell_job')."""
    if len(batch) == 1:
        return f"benchbench:{job_label(fn, batch[0].item, batch[0].key)}"
    return f"benchbench:{fn.__name__}"
