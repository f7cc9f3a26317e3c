"""What one job may change in its process, kept from the user's files and from the next job.

A job runs with its own work folder (``RUN/work/<id>/``) as the current directory and gets
absolute paths only, so a plugin that writes, deletes or ``os.chdir``s relative paths touches its
own folder, never the folder ``bench run`` was started in nor another cell's. Afterwards the
process gets back its directory, environment, umask and ``sys.stdout``/``sys.stderr``: a worker
runs many jobs, and none may inherit what the previous plugin changed.

In a local worker process the job's output (``print``, warnings, a C library writing to fd 1/2)
goes to ``output.log`` in its work folder: ``bench run --json`` prints JSON only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from benchbench.frames import Frame, FrameSet

OUTPUT_LOG = "output.log"
F = TypeVar("F", bound=Callable[..., Any])
_launch: list[str] = []  # the directory each running job was started from (where the matrix's paths point)


def absolute_paths(job: Any) -> Any:
    """``job`` (a job dataclass) with its folders and its frames' files as absolute paths, resolved
    against the current directory (the driver's: local workers start there, remote ones go there)."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(job):
        value = getattr(job, f.name)
        if isinstance(value, Path) and not value.is_absolute():
            changes[f.name] = value.absolute()
        elif isinstance(value, FrameSet) and any(_relative(fr) for fr in value):
            changes[f.name] = FrameSet((_absolute(fr) if _relative(fr) else fr for fr in value), value.name)
    return replace(job, **changes) if changes else job


def _relative(frame: Frame) -> bool:
    """Whether a file the core reads for this frame (its image, its mask: metrics/masks.py) is relative."""
    mask = frame.meta.get("mask")
    return (frame.path is not None and not frame.path.is_absolute()) or (
        isinstance(mask, str) and not os.path.isabs(mask))


def _absolute(frame: Frame) -> Frame:
    mask = frame.meta.get("mask")
    meta = {**frame.meta, "mask": os.path.abspath(mask)} if isinstance(mask, str) else frame.meta
    return replace(frame, path=frame.path.absolute() if frame.path is not None else None, meta=meta)


@contextlib.contextmanager
def job_state(work_dir: Path) -> Iterator[Path]:
    """Run the body in ``work_dir`` (created); restore the directory, environment, umask and std streams."""
    folder = Path(work_dir).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    cwd, env, streams = os.getcwd(), dict(os.environ), (sys.stdout, sys.stderr)
    umask = os.umask(0o022)
    os.umask(umask)
    os.chdir(folder)
    _launch.append(cwd)
    try:
        yield folder
    finally:
        _launch.pop()
        with contextlib.suppress(OSError):  # the old directory may be gone; the next job chdirs anyway
            os.chdir(cwd)
        if dict(os.environ) != env:
            os.environ.clear()
            os.environ.update(env)
        os.umask(umask)
        sys.stdout, sys.stderr = streams


@contextlib.contextmanager
def in_launch_dir() -> Iterator[None]:
    """The body (building a plugin from its matrix parameters) runs where the job was started from, so
    that a relative path in the matrix (``weights: weights/ddpm``) means what it meant to the driver."""
    if not _launch:
        yield
        return
    here = os.getcwd()
    os.chdir(_launch[-1])
    try:
        yield
    finally:
        os.chdir(here)


def in_work_dir(fn: F) -> F:
    """Decorate a job function ``fn(job, progress)``: it runs in ``job.work_dir`` with absolute paths."""

    @functools.wraps(fn)
    def run(job: Any, progress: Any = None) -> Any:
        job = absolute_paths(job)
        with job_state(job.work_dir):
            return fn(job, progress)

    return run  # type: ignore[return-value]


@contextlib.contextmanager
def output_to(log: Path | None) -> Iterator[None]:
    """File descriptors 1 and 2 (and so every print and C-level write) appended to ``log`` for the body."""
    if log is None:
        yield
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    _flush()
    saved = os.dup(1), os.dup(2)
    try:
        with open(log, "ab") as fh:
            os.dup2(fh.fileno(), 1)
            os.dup2(fh.fileno(), 2)
            try:
                yield
            finally:
                _flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        os.close(saved[0])
        os.close(saved[1])


def stdout_to_stderr() -> None:
    """From now on this process's fd 1 is its fd 2: whatever it prints outside a job (a plugin's import)
    reaches the terminal, never the driver's stdout (which `bench run --json` keeps for JSON)."""
    _flush()
    os.dup2(2, 1)


def job_log(item: Any) -> Path | None:
    """Where a job's output goes: ``output.log`` in its work folder (None for an item without one)."""
    work_dir = getattr(item, "work_dir", None)
    return Path(work_dir).absolute() / OUTPUT_LOG if work_dir is not None else None


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            stream.flush()
