"""Errors benchbench reports as one line (no traceback). Numpy-free so the CLI starts fast."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager


class BenchError(Exception):
    """Base of every error benchbench reports without a traceback."""

    exit_code = 2


class UserError(BenchError):
    """Bad input: a one-line message naming the file/field and the fix. Exit code 2."""

    def __init__(self, message: str, *, file: str | os.PathLike | None = None,
                 field: str | None = None, fix: str | None = None):
        self.file, self.field, self.fix, self.detail = file, field, fix, message
        parts = []
        if file is not None:
            parts.append(f"{file}:")
        if field:
            parts.append(f"{field}:")
        parts.append(message)
        text = " ".join(parts)
        if fix:
            text += f" — fix: {fix}"
        super().__init__(text)


class DiskFull(UserError):
    """A write found no space (disk full, over quota): the run stops; every cell it finished is kept."""

    def __init__(self, folder: str | os.PathLike):
        super().__init__("no space left on the device (disk full or over quota); stopped, finished cells are kept",
                         file=folder, fix="free space there (or give another --results-dir / --cache-dir), "
                                          "then run the same command to resume")

    def __reduce__(self):  # it travels from a worker to the driver by pickle
        return type(self), (self.file,)


@contextmanager
def naming_full_disk(folder: str | os.PathLike) -> Iterator[None]:
    """Turn a write's ENOSPC/EDQUOT into ``DiskFull(folder)``: one line, not ``OSError: [Errno 28]``."""
    try:
        yield
    except OSError as exc:
        if is_disk_full(exc):
            raise DiskFull(folder) from None
        raise


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, DiskFull) or (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT))


class PluginError(BenchError):
    """A plugin could not be loaded or violates its protocol."""


class MissingDependency(UserError):
    """An optional dependency (extra) is not installed."""

    def __init__(self, package: str, extra: str | None = None, purpose: str = ""):
        fix = f"pip install 'benchbench-ndt[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{package} is required{' for ' + purpose if purpose else ''} but is not installed",
                         fix=fix)


def error_line(exc: BaseException) -> str:
    """``Type: first line of the message``: how a failure that must not stop the others is recorded
    (a cell's error, a score that could not be computed; the traceback goes elsewhere, if anywhere)."""
    if isinstance(exc, SystemExit):
        return f"SystemExit: a plugin called sys.exit({exc.code!r})"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}".splitlines()[0] if text else type(exc).__name__
