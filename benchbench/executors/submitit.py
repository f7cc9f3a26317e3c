"""Run jobs as SLURM job arrays through submitit (or its ``local`` backend, for laptops and tests).

Each stage of the runner becomes one job array; the driver polls the jobs and hands each result
to the runner as it lands, and the runner writes the cell file. Jobs read frames from the shared
cache and write only into the cache and their own work folder, so a preempted or killed job
leaves no result behind, and a requeued one simply runs the cell again.
"""

from __future__ import annotations

import os
import shutil
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from time import sleep
from typing import Any

from benchbench.errors import MissingDependency, UserError
from benchbench.executors.remote import RemoteCall, job_label

CLUSTERS = (None, "local", "slurm")


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
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


class SubmititExecutor:
    name = "submitit"

    def __init__(self, folder: str | os.PathLike | None = None, cluster: str | None = None,
                 partition: str | None = None, time: int = 120, gpus_per_node: int = 0, cpus_per_task: int = 1,
                 mem_gb: float | None = None, array_parallelism: int | None = None, workers: int | None = None,
                 max_requeue: int = 3, poll_s: float | None = None, slurm: dict[str, Any] | None = None):
        """
        folder: submitit's pickles and logs, on the shared filesystem (bench run: RESULTS_DIR/.submitit).
        cluster: "slurm", "local" (subprocesses on this machine) or None (SLURM when srun exists, else local).
        partition, time (minutes), gpus_per_node, cpus_per_task, mem_gb: SLURM resources of ONE job.
        array_parallelism (alias workers): jobs running at once (SLURM's %N array throttle).
        max_requeue: how many times a job that hits its time limit is requeued (preemptions always are).
        poll_s: seconds between checks of unfinished jobs (default 10 on SLURM, where a check reads the
                shared filesystem and sacct, 0.5 locally).
        slurm: any other submitit slurm_* parameter without the prefix, e.g. {account: x, qos: y,
               constraint: a100, setup: ["module load cuda"]}.
        """
        try:
            import submitit
        except ImportError:
            raise MissingDependency("submitit", extra="slurm", purpose="--executor submitit") from None
        if cluster not in CLUSTERS:
            raise UserError(f"unknown cluster {cluster!r}", field="executor.cluster",
                            fix="use cluster: slurm, cluster: local, or leave it out to auto-detect")
        if cluster == "slurm" and shutil.which("sbatch") is None:
            raise UserError("SLURM's sbatch is not on PATH", field="executor.cluster",
                            fix="run bench on a SLURM login node, or use cluster: local")
        _check_int("time", time, 1)
        _check_int("gpus_per_node", gpus_per_node, 0)
        _check_int("cpus_per_task", cpus_per_task, 1)
        _check_int("max_requeue", max_requeue, 0)
        parallel = array_parallelism if array_parallelism is not None else workers
        if parallel is not None:
            _check_int("array_parallelism", parallel, 1)
        if mem_gb is not None and (isinstance(mem_gb, bool) or not isinstance(mem_gb, int | float) or mem_gb <= 0):
            raise UserError(f"mem_gb must be a positive number (got {mem_gb!r})", field="executor.mem_gb",
                            fix="e.g. mem_gb: 32")
        if poll_s is not None and (isinstance(poll_s, bool) or not isinstance(poll_s, int | float) or poll_s <= 0):
            raise UserError(f"poll_s must be a positive number of seconds (got {poll_s!r})",
                            field="executor.poll_s", fix="e.g. poll_s: 5")
        if slurm is not None and not isinstance(slurm, dict):
            raise UserError("slurm must be a mapping of extra SLURM parameters", field="executor.slurm",
                            fix="e.g. slurm: {account: myproj, qos: normal}")
        self.folder = Path(folder) if folder is not None else Path("results") / ".submitit"
        self.parallelism = parallel
        extra = {f"slurm_{k}": v for k, v in (slurm or {}).items()}
        try:
            self._ex = submitit.AutoExecutor(folder=self.folder, cluster=cluster,
                                             slurm_max_num_timeout=max_requeue, local_max_num_timeout=max_requeue)
            self._ex.update_parameters(
                name="benchbench", timeout_min=time, gpus_per_node=gpus_per_node, cpus_per_task=cpus_per_task,
                mem_gb=mem_gb, slurm_partition=partition, slurm_array_parallelism=parallel or 256, **extra)
        except (NameError, ValueError, AssertionError) as exc:  # submitit's way of rejecting parameters
            raise UserError(f"submitit rejected the parameters: {str(exc).splitlines()[0]}", field="executor",
                            fix="check the executor options (docs/scale-out.md)") from None
        self.cluster: str = self._ex.cluster
        self.poll_s = float(poll_s) if poll_s is not None else (10.0 if self.cluster == "slurm" else 0.5)

    def map(self, fn: Callable[..., Any], items: Sequence[Any], on_result: Callable[[int, Any], None],
            progress: Callable[[str, str, float | None], None] | None = None) -> None:
        # progress is not forwarded: a SLURM job cannot call back into the driver.
        if not items:
            return
        job_fn = _Job(fn, os.getcwd())
        queue = deque(enumerate(items))
        running: dict[Any, int] = {}
        # SLURM throttles an array itself (%N), so everything is submitted at once. The local backend
        # starts a process per job immediately, so the driver keeps at most `parallelism` of them alive.
        limit = len(items) if self.cluster == "slurm" else (self.parallelism or os.cpu_count() or 1)
        try:
            while queue or running:
                if queue and len(running) < limit:
                    batch = [queue.popleft() for _ in range(min(limit - len(running), len(queue)))]
                    self._ex.update_parameters(name=_array_name(fn, batch))
                    jobs = self._ex.map_array(job_fn, [item for _, item in batch])
                    running.update({job: i for job, (i, _) in zip(jobs, batch, strict=True)})
                finished = [job for job in running if job.done()]
                for job in finished:
                    i = running.pop(job)
                    try:
                        res = job.result()
                    except Exception as exc:  # killed, out of memory, requeued too often: the job's own error
                        res = exc
                    on_result(i, res)
                if not finished:
                    sleep(self.poll_s)
        finally:
            # Stopped early (Ctrl-C, an error recording a result): free the cluster; a restarted driver
            # resubmits whatever has no cell file yet.
            for job in running:
                try:
                    job.cancel(check=False)
                except Exception:  # already gone
                    pass


def _array_name(fn: Callable[..., Any], batch: list[tuple[int, Any]]) -> str:
    """squeue shows the stage, and the unit for a single job (e.g. 'benchbench:run_cell_job')."""
    if len(batch) == 1:
        return f"benchbench:{job_label(fn, batch[0][1], batch[0][0])}"
    return f"benchbench:{fn.__name__}"


def _check_int(field: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{field} must be an integer >= {minimum} (got {value!r})", field=f"executor.{field}",
                        fix=f"e.g. {field}: {max(minimum, 1)}")
