"""Local paths given in a matrix: checked, never downloaded."""

from __future__ import annotations

import os
from pathlib import Path

from benchbench.errors import UserError


def require_local_path(value: str | os.PathLike, *, field: str, what: str = "weights") -> Path:
    """Resolve a local path to an absolute one, or fail with a one-line error (nothing is ever downloaded).

    Absolute because a plugin is built where `bench run` started but fits and predicts in its cell's
    work folder (docs/scale-out.md): resolve paths when the plugin is built.
    """
    p = Path(value).expanduser()
    if not p.exists():
        raise UserError(f"{what} not found at {p}", field=field,
                        fix=f"give a local path to existing {what} (benchbench never downloads)")
    return p.absolute()
