"""What the distributed executors (Ray, submitit) share: how one job runs in a remote worker.

A worker may be another process, another node, or a SLURM job started hours later. Two things
make it behave like the driver: it works in the driver's directory (so relative --cache-dir and
--results-dir name the same shared folders), and it hands exceptions back as values (the
``Executor`` contract), so a plugin error is a cell result, never an infrastructure failure
that an engine would retry.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from benchbench.executors.deadline import time_limit

# Environment a remote worker needs to load the same plugins and stay offline; the rest of the
# driver's environment (PATH, HOME, ...) belongs to the driver's machine and is not forwarded.
PASS_PREFIXES: tuple[str, ...] = ("BENCHBENCH_", "YOLO_", "HF_", "TRANSFORMERS_")
PASS_NAMES: tuple[str, ...] = ("PYTHONPATH", "MPLBACKEND")


def passthrough_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The driver's variables that workers must see (plugin allowlists, offline switches)."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if k in PASS_NAMES or k.startswith(PASS_PREFIXES)}


@dataclass(frozen=True)
class RemoteCall:
    """``fn(item)`` run in a worker, in the driver's directory; an exception is returned, not raised."""

    fn: Callable[[Any], Any]
    cwd: str
    contains_exit: ClassVar[bool] = True  # a plugin's sys.exit() is the job's error, not the worker's end

    def __call__(self, item: Any) -> Any:
        # Relative paths in the job (the default --cache-dir is relative) must resolve to the same
        # shared folders as in the driver. If the driver's directory is not mounted here, only
        # absolute paths work; the docs say so, and the job's own file errors will name the path.
        if self.cwd and os.path.isdir(self.cwd):
            os.chdir(self.cwd)
        try:
            with time_limit(item):
                return self.fn(item)
        except KeyboardInterrupt:
            raise  # how Ray cancels a task
        except SystemExit as exc:
            if not self.contains_exit:
                raise
            return exc
        except BaseException as exc:  # the Executor contract: exceptions are results
            return picklable(exc)


def picklable(exc: BaseException) -> BaseException:
    """``exc`` if it survives a pickle round trip (it must travel back to the driver), else a RuntimeError
    carrying its type and message, so that a plugin's exotic exception cannot turn into a lost job."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def job_label(fn: Callable[..., Any], item: Any, index: int | str) -> str:
    """A readable task name for dashboards and squeue: the job's unit id when it has one."""
    for attr in ("cell", "task"):
        unit = getattr(item, attr, None)
        if unit is not None and getattr(unit, "id", None):
            return f"{fn.__name__}:{unit.id}"
    base = getattr(item, "baseline_id", None)
    return f"{fn.__name__}:{base}" if base else f"{fn.__name__}:{index}"
