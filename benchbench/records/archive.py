"""A run's archive: the part of a run folder worth committing, so a study outlives the machine it ran on.

A study of many fits runs over several sessions, and a session's machine may come back empty (no
``results/``, no cache). ``bench run --archive DIR`` keeps, as the run goes, each finished cell's record
(``DIR/cells/<id>.json``, its metrics; a few kB) and each teacher's labels (``DIR/labels/<key>.json``), and
at the start of a run puts back those whose key still matches, so a fresh clone resumes where the last
machine stopped. Prediction files and models stay in ``work/`` and are not archived: an archived cell can
be reported and tested, not re-scored, and a real-only baseline is restored only where the archive holds
its labels of every generated set a pending cell needs from it (else it is fitted again, and then labels
every set again: its archived labels came from another fit).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchbench.errors import UserError
from benchbench.records.store import atomic_write_json, check_cell_id, is_cell_record

LABELS = "labels"  # the cache's kind for teacher labels (benchbench.pipeline.jobs.run_label_job)


class Archive:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise UserError("is not a folder", file=self.root, field="--archive",
                            fix="give a folder (it is created when missing)")

    def _record(self, path: Path) -> dict[str, Any]:
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            raise UserError("is not a readable cell record", file=path,
                            fix="restore it from version control, or delete it to recompute that cell") from None
        if not is_cell_record(rec) or rec["id"] != path.stem:
            raise UserError("does not hold the record of the cell it is named after", file=path,
                            fix="restore it from version control, or delete it to recompute that cell")
        check_cell_id(rec["id"], path, "id")
        return rec

    def completed(self, cell_id: str, key: str) -> dict[str, Any] | None:
        """The archived record if this cell finished OK with the same key, else None."""
        path = self.root / "cells" / f"{cell_id}.json"
        if not path.is_file():
            return None
        rec = self._record(path)
        return rec if rec["status"] == "ok" and rec["key"] == key else None

    def read_labels(self) -> dict[str, dict[str, Any]]:
        """Every readable archived label set by its cache key, each naming its ``teacher`` (cell id) and ``task``
        (generation task id); an unreadable file is left out, so its labels are made again: it costs a predict,
        never a result."""
        out = {}
        for path in sorted((self.root / LABELS).glob("*.json")):
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and isinstance(data.get("teacher"), str) and isinstance(data.get("task"), str):
                out[path.stem] = data
        return out

    def save_cell(self, record: dict[str, Any]) -> None:
        """A finished cell's record (a failed one is not kept: the next run tries it again)."""
        if record.get("status") == "ok":
            # indented, keys sorted: an archive is committed, and its diffs should show what changed
            self._write(self.root / "cells" / f"{record['id']}.json", record)

    def save_labels(self, key: str, labels: dict[str, Any], pair: tuple[str, str]) -> None:
        """A teacher's labels of one generated set; ``pair`` (teacher cell id, generation task id) says whose."""
        self._write(self.root / LABELS / f"{key}.json", {"teacher": pair[0], "task": pair[1],
                    **{k: v for k, v in labels.items() if k in ("boxes", "reference")}})

    @staticmethod
    def _write(path: Path, obj: Any) -> None:
        atomic_write_json(path, obj, indent=1, sort_keys=True)
