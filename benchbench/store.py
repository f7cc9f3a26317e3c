"""Run folders: atomic cell files, results.json, resume."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from benchbench.api import UserError

SCHEMA_VERSION = 2  # 2: crack-scale metrics (sizes, errors, operating_point, masks, groups)
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_text(path: Path, text: str, durable: bool = True) -> None:
    """Write via a temp file + rename so a killed process never leaves half a file.

    ``durable`` adds an fsync (survives a machine crash, not only a killed process); the cache,
    which can always be regenerated, skips it because it costs ~10 ms a file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any, durable: bool = True, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, default=_json_default) + "\n", durable)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set | tuple):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


class RunStore:
    """``results/<run>/``: cells/<id>.json, results.json, work/<id>/, plots/, samples/."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.cells_dir = self.root / "cells"

    def prepare(self, fresh: bool = False) -> None:
        if fresh and self.root.exists():
            for sub in ("cells", "work", "plots", "samples"):
                shutil.rmtree(self.root / sub, ignore_errors=True)
            (self.root / "results.json").unlink(missing_ok=True)
        self.cells_dir.mkdir(parents=True, exist_ok=True)

    def run_id(self) -> str:
        """The folder's run id: kept while the folder is resumed, new after --fresh."""
        try:
            rid = json.loads((self.root / "results.json").read_text())["run"]["id"]
            if rid:
                return str(rid)
        except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError):
            pass
        return uuid.uuid4().hex[:16]

    def work_dir(self, cell_id: str) -> Path:
        d = self.root / "work" / cell_id
        d.mkdir(parents=True, exist_ok=True)
        return d

    def cell_path(self, cell_id: str) -> Path:
        return self.cells_dir / f"{cell_id}.json"

    def write_cell(self, result: dict[str, Any]) -> Path:
        path = self.cell_path(result["id"])
        atomic_write_json(path, result)
        return path

    def read_cell(self, cell_id: str) -> dict[str, Any] | None:
        path = self.cell_path(cell_id)
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def completed(self, cell_id: str, key: str) -> dict[str, Any] | None:
        """The stored result if this cell finished OK with the same key, else None."""
        res = self.read_cell(cell_id)
        if res and res.get("status") == "ok" and res.get("key") == key:
            return res
        return None

    def all_cells(self) -> list[dict[str, Any]]:
        out = []
        for p in sorted(self.cells_dir.glob("*.json")):
            try:
                out.append(json.loads(p.read_text()))
            except json.JSONDecodeError:
                continue
        return out

    def write_results(self, results: dict[str, Any]) -> Path:
        path = self.root / "results.json"
        # no indent: json's C encoder is ~4x faster, and results.json is rewritten after every cell
        atomic_write_json(path, results, indent=None)
        return path


def load_results(run_dir: str | Path) -> dict[str, Any]:
    """Read a run folder's results.json, with a clear error for anything else."""
    p = Path(run_dir)
    f = p / "results.json" if p.is_dir() else p
    try:
        data = json.loads(f.read_text())
    except FileNotFoundError:
        raise UserError("no results.json here", file=f, fix="give a run folder made by `bench run`") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"results.json is not valid JSON ({exc.msg}, line {exc.lineno})", file=f,
                        fix="re-run `bench run` to rewrite it") from None
    if not isinstance(data, dict) or "cells" not in data:
        raise UserError("not a benchbench results file (no 'cells')", file=f, fix="give a run folder")
    return data
