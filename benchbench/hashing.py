"""Content hashes: of JSON-able values, of files and of whole folders (weights fingerprints)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchbench.errors import UserError


def sha256_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def dir_fingerprint(path: str | os.PathLike, patterns: Sequence[str] = ("*",)) -> str:
    """Hash of every file (relative name + content) under a folder: a weights fingerprint."""
    root = Path(path)
    if not root.exists():
        raise UserError("path does not exist", file=root, fix="point the matrix at an existing folder")
    h = hashlib.sha256()
    files = sorted({p for pat in patterns for p in root.rglob(pat) if p.is_file()})
    for p in files:
        h.update(str(p.relative_to(root)).encode())
        h.update(file_sha256(p).encode())
    return h.hexdigest()
