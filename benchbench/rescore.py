"""Re-evaluate a finished run from its saved predictions with the current evaluator (`bench rescore`).

Fitting a cell costs minutes to hours of CPU; scoring its saved predictions costs well under a
second. So when the evaluator gains a metric or a fix, a run's cells are scored again from
``work/<cell>/predictions.json`` against its test frames, rebuilt exactly as the run built them
(same matrix, data, split and seeds, checked against ``test_gt.json`` and the data manifest),
with the metric settings the run recorded. Cell keys are kept, so `bench run` still resumes them.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchbench.cache import Cache
from benchbench.data.split import LoadedSplit
from benchbench.errors import UserError
from benchbench.frames import Box
from benchbench.hashing import file_sha256
from benchbench.matrix import Matrix, parse_matrix
from benchbench.store import SCHEMA_VERSION, TAMPERED, TEST_GT, RunStore, check_cell_id, load_results

# (cell id, its new record or None when skipped, the reason it was skipped) after each cell
CellDone = Callable[[str, dict[str, Any] | None, str | None], None]


class Skip(Exception):
    """A cell that cannot be scored again; the message says why, in one line."""


class Changed(Skip):
    """A saved input that no longer has the checksum recorded when it was written: never scored."""


@dataclass
class SavedRun:
    """A run folder as rescore reads it: results.json, its cells, its matrix and its data rebuilt."""

    root: Path
    results: dict[str, Any]
    records: list[dict[str, Any]]  # the cells in results.json order, from their cell files where readable
    matrix: Matrix
    data: LoadedSplit
    warnings: list[str] = field(default_factory=list)  # what could not be verified (an older run folder)

    @property
    def candidates(self) -> list[dict[str, Any]]:
        """The cells to score again: those that finished; a failed cell has no predictions."""
        return [r for r in self.records if r.get("status") == "ok"]


@dataclass
class RescoreSummary:
    rescored: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # cell id -> why
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False


def open_run(run_dir: str | Path, cache: Cache, plugins: Any) -> SavedRun:
    """Read RUN_DIR and rebuild its frames from the matrix it recorded; a user error when they are not the run's."""
    from benchbench.runner import load_data

    root = Path(run_dir)
    results = load_results(root)
    file = root / "results.json"
    recorded = (results.get("run") or {}).get("matrix")
    if not isinstance(recorded, dict):
        raise UserError("no recorded matrix (run.matrix)", file=file,
                        fix="rescore a run folder written by `bench run`, or run its matrix again")
    matrix = parse_matrix(recorded, f"{file} run.matrix")
    matrix_file = str((results.get("run") or {}).get("matrix_file") or file)
    try:
        data, data_hash = load_data(matrix, matrix_file, cache, plugins)
    except UserError as exc:
        if exc.file is not None:
            raise
        raise UserError(exc.detail, file=f"{file} run.matrix", field=exc.field, fix=exc.fix) from None
    warnings = _check_inputs(root, results)
    _check_same_data(root, results, data, data_hash)
    records = _records(RunStore(root), results)
    unverified = [r["id"] for r in records if (r.get("artifacts") or {}).get("predictions") and not r.get("checksums")]
    if unverified and not warnings:
        warnings.append(f"{len(unverified)} cell(s) written before checksums were recorded ({unverified[0]}, ...): "
                        "their predictions are not verified")
    return SavedRun(root, results, records, matrix, data, warnings)


def _records(store: RunStore, results: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's cells, their ids and artifact paths checked: rescore reads and writes only inside the folder."""
    file = store.root / "results.json"
    store.inside("cells", file, "cells (the cells/ folder)")
    records = []
    for i, c in enumerate(results["cells"]):
        if not (isinstance(c, dict) and "id" in c):
            continue
        cell_id = check_cell_id(c["id"], file, f"cells[{i}].id")
        record = store.read_cell(cell_id) or c
        where = store.cell_path(cell_id) if record is not c else file
        store.inside(f"work/{cell_id}", where, f"the work folder of {cell_id}")
        artifacts = record.get("artifacts") or {}
        if not isinstance(artifacts, dict):
            raise UserError("artifacts is not a mapping", file=where, field="artifacts", fix=TAMPERED)
        for name, rel in artifacts.items():
            store.inside(rel, where, f"artifacts.{name}")
        for k, point in enumerate(record.get("curve") or []):
            store.inside(point.get("predictions") if isinstance(point, dict) else None, where,
                         f"curve[{k}].predictions")
        records.append(record)
    return records


def _check_inputs(root: Path, results: dict[str, Any]) -> list[str]:
    """test_gt.json as the run wrote it (its recorded checksum); a warning for a run from before checksums."""
    recorded = ((results.get("run") or {}).get("checksums") or {}).get(TEST_GT)
    gt = root / TEST_GT
    if recorded is None:
        return [f"{root}: no checksums recorded (a run folder from before they were): {TEST_GT} and the "
                "predictions are not verified"]
    if not gt.is_file() or file_sha256(gt) != recorded:
        raise UserError("missing or changed since the run wrote it (sha256 differs from "
                        f"run.checksums[{TEST_GT!r}] in results.json)", file=gt, fix=TAMPERED)
    return []


def _check_same_data(root: Path, results: dict[str, Any], data: LoadedSplit, data_hash: str) -> None:
    from benchbench.data.export import test_ground_truth
    from benchbench.stats import read_json_file

    fix = ("run `bench rescore` from the folder the run was started in, with the data it used (same files "
           "under the matrix's data root); for new data, run the matrix again with `bench run`")
    gt_file = root / "test_gt.json"
    saved = read_json_file(gt_file)
    if saved is not None:
        # compared as the file holds it (lists, not tuples)
        if json.loads(json.dumps(test_ground_truth(data.test))) != saved:
            raise UserError("the test frames rebuilt from run.matrix are not this run's (other frames, boxes or "
                            "specimens)", file=gt_file, fix=fix)
    recorded = ((results.get("run") or {}).get("data") or {}).get("manifest_hash")
    if recorded is None and saved is None:
        raise UserError("neither test_gt.json nor run.data.manifest_hash says which frames this run used",
                        file=root / "results.json", fix="run the matrix again with `bench run`")
    if recorded is not None and recorded != data_hash:
        raise UserError(f"the data rebuilt from run.matrix is not this run's (manifest {data_hash[:12]}, "
                        f"the run's {str(recorded)[:12]})", file=root / "results.json",
                        field="run.data.manifest_hash", fix=fix)


def read_predictions(path: Path, n_frames: int, sha256: str | None = None) -> list[list[Box]]:
    """A saved COCO results list (image ids 1..N in frame order) as one list of boxes per frame;
    with ``sha256`` (recorded when the cell wrote it), refused unless the file still has it."""
    try:
        raw = path.read_bytes()
        if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
            raise Changed(f"{path} changed since the cell wrote it (sha256 differs from the cell's checksums)")
        rows = json.loads(raw)
    except FileNotFoundError:
        raise Skip(f"{path} is missing") from None
    except (OSError, ValueError) as exc:
        raise Skip(f"{path} is unreadable ({type(exc).__name__})") from None
    if not isinstance(rows, list):
        raise Skip(f"{path} is not a COCO results list")
    preds: list[list[Box]] = [[] for _ in range(n_frames)]
    for k, d in enumerate(rows):
        try:
            i = int(d["image_id"]) - 1
            x, y, w, h = (float(v) for v in d["bbox"])
            score = float(d["score"])
        except (KeyError, TypeError, ValueError):
            raise Skip(f"{path}: detection {k} is not a COCO detection (image_id, bbox, score)") from None
        if not 0 <= i < n_frames:
            raise Skip(f"{path}: detection {k} is on image {i + 1}, but the test set has {n_frames} frames")
        preds[i].append(Box(x, y, w, h, score=score))
    return preds


@dataclass
class CellInputs:
    """What scoring a cell again takes: its predictions and the evaluator's keyword arguments."""

    preds: list[list[Box]]
    kwargs: dict[str, Any]
    threshold_from: str  # where the operating threshold comes from (dry run, docs)


def cell_inputs(run: SavedRun, record: dict[str, Any]) -> CellInputs:
    """Read the cell's saved predictions; Skip when they are missing or there is no operating threshold."""
    artifacts = record.get("artifacts") or {}
    if not artifacts.get("predictions"):
        raise Skip("no saved predictions (artifacts.predictions)")
    test, val = run.data.test, run.data.val
    sums = record.get("checksums") or {}
    preds = read_predictions(run.root / artifacts["predictions"], len(test), sums.get("predictions"))
    kwargs: dict[str, Any] = run.matrix.metrics.eval_kwargs()
    if not val:
        return CellInputs(preds, kwargs, "matrix score_threshold (no validation frames)")
    try:  # the threshold is chosen on validation frames, never on test
        val_preds = read_predictions(run.root / artifacts["predictions_val"], len(val), sums.get("predictions_val"))
        return CellInputs(preds, kwargs | {"val": val, "val_preds": val_preds}, "validation predictions")
    except Changed:
        raise
    except (KeyError, Skip):  # a cell from before predictions_val.json: the threshold it chose then
        threshold = ((record.get("metrics") or {}).get("operating_point") or {}).get("threshold")
        if not _is_number(threshold):
            raise Skip("no validation predictions (predictions_val.json) and no recorded "
                       "metrics.operating_point.threshold") from None
        return CellInputs(preds, kwargs | {"operating_threshold": float(threshold)}, "recorded threshold")


def rescore_cell(run: SavedRun, record: dict[str, Any], stamp: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The cell's record with metrics scored again (and its gallery redrawn), and a warning if any."""
    from benchbench.curves import score_point
    from benchbench.evaluation import REUSED_THRESHOLD, evaluate_predictions
    from benchbench.jobs import write_gallery

    t0 = time.perf_counter()
    inputs = cell_inputs(run, record)
    artifacts = dict(record["artifacts"])
    try:
        metrics = evaluate_predictions(run.data.test, inputs.preds, **inputs.kwargs)
    except ValueError as exc:
        raise Skip(f"{run.root / artifacts['predictions']}: {exc}") from None
    if "operating_threshold" in inputs.kwargs:  # keep saying how the threshold was chosen, and that it was reused
        old = record["metrics"]["operating_point"]
        base = str(old.get("source") or "recorded").removesuffix(f", {REUSED_THRESHOLD}")
        metrics["operating_point"] |= {"source": f"{base}, {REUSED_THRESHOLD}", "val_f1": old.get("val_f1")}
    new = {**record, "metrics": metrics, "artifacts": artifacts, "rescored": stamp}
    if record.get("curve"):  # the learning curve from its checkpoints' saved predictions, by the same rules
        test, kwargs = run.data.test, run.matrix.metrics.eval_kwargs()
        new["curve"] = [p | score_point(test, read_predictions(run.root / p["predictions"], len(test)), kwargs)
                        for p in record["curve"]]
    problem = write_gallery(run.data.test, inputs.preds, new, run.root / "work" / record["id"])
    new["timings"] = {**(record.get("timings") or {}), "rescore": time.perf_counter() - t0}
    return new, problem and f"{record['id']}: worst-frames gallery not drawn: {problem}"


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def rescore_run(run: SavedRun, on_cell: CellDone | None = None) -> RescoreSummary:
    """Score every finished cell again, writing each cell file as it is done, then results.json.

    Holds the run folder's lock (no `bench run` writes there meanwhile). Every cell file is written
    atomically, so an interrupted rescore leaves each cell old or new; results.json is rewritten from
    the cells done even then.
    """
    from benchbench import __version__
    from benchbench.runner import git_commit

    store = RunStore(run.root)
    store.acquire()
    stamp = {"at": datetime.now(UTC).isoformat(), "benchbench": __version__, "git_commit": git_commit(),
             "schema_version": SCHEMA_VERSION}
    out = RescoreSummary(warnings=list(run.warnings))
    new: dict[str, dict[str, Any]] = {}
    try:
        for record in run.candidates:
            try:
                res, warning = rescore_cell(run, record, stamp)
            except Skip as exc:
                out.skipped[record["id"]] = str(exc)
                if on_cell:
                    on_cell(record["id"], None, str(exc))
                continue
            store.write_cell(res)
            new[res["id"]] = res
            out.rescored.append(res["id"])
            out.warnings += [warning] if warning else []
            if on_cell:
                on_cell(res["id"], res, None)
    except KeyboardInterrupt:
        out.interrupted = True
    finally:
        try:
            if new:
                out.warnings += _write_results(run, store, new, {**stamp, "cells": len(new)})
        finally:
            store.release()
    return out


def _write_results(run: SavedRun, store: RunStore, new: dict[str, dict[str, Any]], stamp: dict[str, Any]
                   ) -> list[str]:
    """results.json with the rescored cells, the seed summary and generator-score gains made from them."""
    from benchbench.genscore.runscores import score_gains
    from benchbench.runner import metric_directions
    from benchbench.summary import summarize

    cells = [new.get(r["id"], r) for r in run.records]
    results = {**run.results, "cells": cells, "summary": summarize(cells)}
    results["run"] = {**results["run"], "metric_directions": metric_directions(run.matrix), "rescored": stamp}
    warnings = []
    scores = results.get("generator_scores")
    if isinstance(scores, dict) and "gain" in scores:  # the gains are the cells' metrics: made again
        try:
            results["generator_scores"] = score_gains(dict(scores), cells, run.matrix.scores, run.root)
        except Exception as exc:  # the cells are rescored either way; only the score-vs-gain part is stale
            warnings.append(f"generator_scores.gain not recomputed: {type(exc).__name__}: {exc}")
    store.write_results(results)
    return warnings

