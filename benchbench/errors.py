"""Errors benchbench reports as one line (no traceback). Numpy-free so the CLI starts fast."""

from __future__ import annotations

import os


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
