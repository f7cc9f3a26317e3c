"""Local paths given in a matrix: checked, never downloaded."""

from __future__ import annotations

import os
from pathlib import Path

from benchbench.errors import UserError


def require_local_path(value: str | os.PathLike, *, field: str, what: str = "weights") -> Path:
    """Resolve a local path or fail with a one-line error (nothing is ever downloaded)."""
    p = Path(value).expanduser()
    if not p.exists():
        raise UserError(f"{what} not found at {p}", field=field,
                        fix=f"give a local path to existing {what} (benchbench never downloads)")
    return p
