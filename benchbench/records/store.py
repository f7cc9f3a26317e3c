"""Run folders: atomic cell files, results.json, resume — and every read of a finished one.

The one module that knows a run folder's layout: the runner writes through it, and `bench report`,
`compare`, `leaderboard` and `rescore` read through it (results.json, the cells, the test ground
truth, saved predictions), so the analysis never needs the code that wrote the folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from benchbench.errors import UserError, naming_full_disk
from benchbench.frames import Box
from benchbench.records.schema import Results, validate

SCHEMA_VERSION = 2  # 2: crack-scale metrics (sizes, errors, operating_point, masks, groups)
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_text(path: Path, text: str, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode(), durable)


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """Write via a temp file + rename so a killed process never leaves half a file (and a symlink at
    ``path`` is replaced, never written through).

    ``durable`` adds an fsync (survives a machine crash, not only a killed process); the cache,
    which can always be regenerated, skips it because it costs ~10 ms a file. A full disk is a
    ``DiskFull`` naming the folder; the file keeps its previous content.
    """
    with naming_full_disk(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                if durable:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def atomic_write_json(path: Path, obj: Any, durable: bool = True, indent: int | None = 2,
                      sort_keys: bool = False) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=sort_keys, default=_json_default) + "\n",
                      durable)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set | tuple):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_RUN_NAME = 128  # a folder name (255 bytes at most) that other names are appended to
_CELL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")  # row names, '__', numbers as :g writes them (1e+06)
TEST_GT = "test_gt.json"  # the run's held-out ground truth, beside results.json
TAMPERED = "restore the run folder as `bench run` wrote it, or run its matrix again with `bench run`"


def run_folder(results_dir: str | Path, name: str, field: str = "--run-name") -> Path:
    """``results_dir/name``, refusing a name that would put the run anywhere else."""
    if not _RUN_NAME.match(name or ""):
        raise UserError(f"run name {name!r} is not a plain folder name", field=field,
                        fix="use letters, digits, '_', '-', '.' (no path separators, no '..')")
    if len(name) > MAX_RUN_NAME:
        raise UserError(f"run name is {len(name)} characters long, over {MAX_RUN_NAME}", field=field,
                        fix="give a shorter name")
    return Path(results_dir) / name


def check_cell_id(cell_id: Any, file: str | Path, field: str) -> str:
    """A cell id read back from a run folder, refused unless it is a plain name (it names files there)."""
    if not isinstance(cell_id, str) or not _CELL_ID.match(cell_id):
        raise UserError(f"cell id {cell_id!r} is not a plain name (letters, digits, '_', '-', '.', '+')",
                        file=file, field=field, fix=TAMPERED)
    return cell_id


class RunStore:
    """``results/<run>/``: cells/<id>.json, results.json, work/<id>/, plots/, samples/.

    One writer at a time: :meth:`prepare` takes an OS lock on the folder (``.lock``, holding the
    writer's PID), which the OS releases when that process ends, however it ends.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.cells_dir = self.root / "cells"
        self._lock: Any = None

    def prepare(self, fresh: bool = False) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the run folder ({exc.strerror or exc})", file=self.root,
                            field="--results-dir", fix="give a --results-dir you can write to") from None
        self.acquire()
        if fresh:
            for sub in ("cells", "work", "plots", "samples"):
                path = self.root / sub
                if path.is_symlink():  # delete the link, never what it points to
                    path.unlink()
                else:
                    shutil.rmtree(path, ignore_errors=True)
            (self.root / "results.json").unlink(missing_ok=True)
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        self._sweep_temp_files()

    def acquire(self) -> None:
        """Take the folder's lock, or exit 2 naming the process that holds it."""
        import fcntl  # POSIX only: the store itself stays importable anywhere

        lock = self.root / ".lock"
        try:  # never through a symlink: truncating it below would empty the file it points to
            fh = os.fdopen(os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666), "r+")
        except OSError as exc:
            raise UserError(f"cannot open the run folder's lock ({exc.strerror or exc})", file=lock,
                            fix="remove it if it is a symlink; give a --results-dir you can write to") from None
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            fh.close()
            raise UserError(f"this run folder is in use by another bench run (PID {holder})", file=self.root,
                            fix="wait for it to end, or give this run another --run-name") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._lock = fh

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the flock
            self._lock = None

    def _sweep_temp_files(self) -> None:
        """Temp files of atomic writes a killed run left behind (only the lock holder writes here)."""
        for folder in (self.root, self.cells_dir, *self.root.glob("work/*")):
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)

    def inside(self, rel: Any, file: str | Path, field: str) -> Path:
        """``root/rel`` for a path read back from the run folder, refused when it leads outside the folder
        (an absolute path, ``..``, a symlink to elsewhere): what rescore reads and writes stays in it."""
        if not isinstance(rel, str | Path) or not str(rel):
            raise UserError(f"{rel!r} is not a path", file=file, field=field, fix=TAMPERED)
        path = self.root / rel
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise UserError(f"{str(rel)!r} leads outside the run folder (to {path.resolve()})", file=file,
                            field=field, fix=TAMPERED)
        return path

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
        """The cell's record, or None when missing or damaged (truncated, not JSON, wrong shape)."""
        path = self.cell_path(cell_id)
        try:
            res = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None
        return res if is_cell_record(res) and res["id"] == cell_id else None

    def completed(self, cell_id: str, key: str) -> dict[str, Any] | None:
        """The stored result if this cell finished OK with the same key, else None."""
        res = self.read_cell(cell_id)
        if res and res.get("status") == "ok" and res.get("key") == key:
            return res
        return None

    def all_cells(self) -> list[dict[str, Any]]:
        return [c for p in sorted(self.cells_dir.glob("*.json")) if (c := self.read_cell(p.stem)) is not None]

    def checked_records(self, results: dict[str, Any]) -> list[dict[str, Any]]:
        """results.json's cells (from their cell files where readable), their ids and artifact paths checked:
        what `bench rescore` reads and writes stays inside the folder."""
        file = self.root / "results.json"
        self.inside("cells", file, "cells (the cells/ folder)")
        records = []
        for i, c in enumerate(results["cells"]):
            if not (isinstance(c, dict) and "id" in c):
                continue
            cell_id = check_cell_id(c["id"], file, f"cells[{i}].id")
            record = self.read_cell(cell_id) or c
            where = self.cell_path(cell_id) if record is not c else file
            self.inside(f"work/{cell_id}", where, f"the work folder of {cell_id}")
            artifacts = record.get("artifacts") or {}
            if not isinstance(artifacts, dict):
                raise UserError("artifacts is not a mapping", file=where, field="artifacts", fix=TAMPERED)
            for name, rel in artifacts.items():
                self.inside(rel, where, f"artifacts.{name}")
            for k, point in enumerate(record.get("curve") or []):
                self.inside(point.get("predictions") if isinstance(point, dict) else None, where,
                            f"curve[{k}].predictions")
            records.append(record)
        return records

    def write_results(self, results: dict[str, Any]) -> Path:
        path = self.root / "results.json"
        # no indent: json's C encoder is ~4x faster, and results.json is rewritten after every cell
        atomic_write_json(path, results, indent=None)
        return path


def is_cell_record(res: Any) -> bool:
    """Whether ``res`` has the shape of a cell record (a finished one also has its metrics)."""
    if not (isinstance(res, dict) and isinstance(res.get("id"), str) and isinstance(res.get("key"), str)
            and isinstance(res.get("cell"), dict) and res.get("status") in ("ok", "failed")):
        return False
    cell = res["cell"]
    if not (isinstance(cell.get("detector"), str) and _is_num(cell.get("ratio")) and _is_num(cell.get("seed"))):
        return False
    if res["status"] != "ok":
        return True
    metrics = res.get("metrics")
    return isinstance(metrics, dict) and all(
        isinstance(m, dict) and (m.get("value") is None or _is_num(m["value"]))
        for name, m in metrics.items() if name not in ("coco", "frame"))


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def run_cells(root: Path, results: dict[str, Any]) -> list[dict[str, Any]]:
    """results.json's cells, plus cell files that finished after it was last written (a killed run)."""
    started = (results.get("run") or {}).get("started") or ""
    cells = {c["id"]: c for c in results["cells"]}
    for c in RunStore(root).all_cells():
        # Older cell files in the folder belong to earlier invocations, possibly of another matrix.
        if c.get("id") not in cells and (c.get("finished") or "") >= started:
            cells[c["id"]] = c
    return list(cells.values())


def read_json_file(path: Path) -> Any | None:
    """JSON content, or None when the file is absent or unreadable (the caller says what is missing)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class Unusable(Exception):
    """A saved file of a run folder that cannot be used (missing, unreadable, not what it should hold);
    the message says why, in one line."""


class Changed(Unusable):
    """A saved file that no longer has the checksum recorded when it was written: never used."""


def read_predictions(path: Path, n_frames: int, sha256: str | None = None) -> list[list[Box]]:
    """A saved COCO results list (image ids 1..N in frame order) as one list of boxes per frame;
    with ``sha256`` (recorded when the cell wrote it), refused unless the file still has it."""
    try:
        raw = path.read_bytes()
        if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
            raise Changed(f"{path} changed since the cell wrote it (sha256 differs from the cell's checksums)")
        rows = json.loads(raw)
    except FileNotFoundError:
        raise Unusable(f"{path} is missing") from None
    except (OSError, ValueError) as exc:
        raise Unusable(f"{path} is unreadable ({type(exc).__name__})") from None
    if not isinstance(rows, list):
        raise Unusable(f"{path} is not a COCO results list")
    preds: list[list[Box]] = [[] for _ in range(n_frames)]
    for k, d in enumerate(rows):
        try:
            i = int(d["image_id"]) - 1
            x, y, w, h = (float(v) for v in d["bbox"])
            score = float(d["score"])
        except (KeyError, TypeError, ValueError):
            raise Unusable(f"{path}: detection {k} is not a COCO detection (image_id, bbox, score)") from None
        if not 0 <= i < n_frames:
            raise Unusable(f"{path}: detection {k} is on image {i + 1}, but the test set has {n_frames} frames")
        preds[i].append(Box(x, y, w, h, score=score))
    return preds


def ground_truth_file(fold: int | None) -> str:
    """The run folder's file holding a fold's test ground truth (``test_gt.json`` for a plain split)."""
    return TEST_GT if fold is None else f"test_gt__f{fold}.json"


def run_folds(results: dict[str, Any]) -> list[int | None]:
    """The folds of a run (``[None]`` for a plain split), from results.json's ``run.folds``."""
    folds = (results.get("run") or {}).get("folds")
    return [int(f["fold"]) for f in folds] if folds else [None]


def read_ground_truths(root: Path, results: dict[str, Any]) -> dict[int | None, Any]:
    """Each fold's test ground truth as the run wrote it (None where the file is missing or unreadable: a
    run from before the run folder held it)."""
    return {f: read_json_file(root / ground_truth_file(f)) for f in run_folds(results)}


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

    validate(Results, data, f)  # the keys readers rely on, typed; the dict is returned as read
    return data
