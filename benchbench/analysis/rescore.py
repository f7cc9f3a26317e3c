"""Re-evaluate a finished run from its saved predictions with the current evaluator (`bench rescore`).

Fitting a cell costs minutes to hours of CPU; scoring its saved predictions costs well under a
second. So when the evaluator gains a metric or a fix, a run's cells are scored again from
``work/<cell>/predictions.json`` against its test frames, rebuilt exactly as the run built them
(same matrix, data, split and seeds, checked against ``test_gt.json`` and the data manifest),
with the metric settings the run recorded. Cell keys are kept, so `bench run` still resumes them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchbench import __version__
from benchbench.analysis.genscore.predict import score_gains
from benchbench.data.export import test_ground_truth
from benchbench.data.split import LoadedSplit, load_split
from benchbench.drawing.gallery import write_gallery
from benchbench.environment import git_commit
from benchbench.errors import UserError
from benchbench.frames import Box, FrameSet
from benchbench.hashing import file_sha256
from benchbench.method.curves import score_point
from benchbench.method.evaluation import REUSED_THRESHOLD, evaluate_predictions, metric_directions
from benchbench.method.matrix import Matrix, parse_matrix
from benchbench.records.cache import Cache
from benchbench.records.store import (
    SCHEMA_VERSION,
    TAMPERED,
    TEST_GT,
    Changed,
    RunStore,
    Unusable,
    ground_truth_file,
    load_results,
    read_json_file,
    read_predictions,
)
from benchbench.records.summary import summarize

# (cell id, its new record or None when skipped, the reason it was skipped) after each cell
CellDone = Callable[[str, dict[str, Any] | None, str | None], None]


class Skip(Unusable):
    """A cell that cannot be scored again; the message says why, in one line. Its saved files being
    unusable (``store.Unusable``, ``store.Changed``: never scored) skips it too."""


@dataclass
class SavedRun:
    """A run folder as rescore reads it: results.json, its cells, its matrix and its data rebuilt."""

    root: Path
    results: dict[str, Any]
    records: list[dict[str, Any]]  # the cells in results.json order, from their cell files where readable
    matrix: Matrix
    data: LoadedSplit
    warnings: list[str] = field(default_factory=list)  # what could not be verified (an older run folder)

    @staticmethod
    def fold_of(record: dict[str, Any]) -> int | None:
        """The fold a cell was trained and tested on (None: a plain split)."""
        return (record.get("cell") or {}).get("fold")

    def test_of(self, record: dict[str, Any]) -> FrameSet:
        """The test frames the cell was scored on: its fold's."""
        fold = self.fold_of(record)
        try:
            return self.data.fold(fold).test
        except UserError:
            raise Skip(f"its fold {fold} is not a fold of run.matrix's split") from None

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
        data = load_split(matrix, matrix_file, plugins, cache=cache)
    except UserError as exc:
        if exc.file is not None:
            raise
        raise UserError(exc.detail, file=f"{file} run.matrix", field=exc.field, fix=exc.fix) from None
    warnings = _check_inputs(root, results, data)
    _check_same_data(root, results, data)
    records = RunStore(root).checked_records(results)
    unverified = [r["id"] for r in records if (r.get("artifacts") or {}).get("predictions") and not r.get("checksums")]
    if unverified and not warnings:
        warnings.append(f"{len(unverified)} cell(s) written before checksums were recorded ({unverified[0]}, ...): "
                        "their predictions are not verified")
    return SavedRun(root, results, records, matrix, data, warnings)


def _check_inputs(root: Path, results: dict[str, Any], data: LoadedSplit) -> list[str]:
    """Each fold's test ground truth (test_gt.json for a plain split) as the run wrote it (its recorded
    checksum); a warning for a run from before checksums."""
    checksums = (results.get("run") or {}).get("checksums") or {}
    if not checksums:
        return [f"{root}: no checksums recorded (a run folder from before they were): {TEST_GT} and the "
                "predictions are not verified"]
    for name in (ground_truth_file(f.index) for f in data.folds):
        gt, recorded = root / name, checksums.get(name)
        if recorded is None or not gt.is_file() or file_sha256(gt) != recorded:
            raise UserError("missing or changed since the run wrote it (sha256 differs from "
                            f"run.checksums[{name!r}] in results.json)", file=gt, fix=TAMPERED)
    return []


def _check_same_data(root: Path, results: dict[str, Any], data: LoadedSplit) -> None:
    fix = ("run `bench rescore` from the folder the run was started in, with the data it used (same files "
           "under the matrix's data root); for new data, run the matrix again with `bench run`")
    saved = None
    for fold in data.folds:  # each fold's test frames against the ground truth the run wrote for it
        gt_file = root / ground_truth_file(fold.index)
        saved = read_json_file(gt_file)
        # compared as the file holds it (lists, not tuples)
        if saved is not None and json.loads(json.dumps(test_ground_truth(fold.test))) != saved:
            raise UserError("the test frames rebuilt from run.matrix are not this run's (other frames, boxes or "
                            "specimens)", file=gt_file, fix=fix)
    recorded = ((results.get("run") or {}).get("data") or {}).get("manifest_hash")
    if recorded is None and saved is None:
        raise UserError("neither test_gt.json nor run.data.manifest_hash says which frames this run used",
                        file=root / "results.json", fix="run the matrix again with `bench run`")
    if recorded is not None and recorded != data.manifest_hash:
        raise UserError(f"the data rebuilt from run.matrix is not this run's (manifest {data.manifest_hash[:12]}, "
                        f"the run's {str(recorded)[:12]})", file=root / "results.json",
                        field="run.data.manifest_hash", fix=fix)


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
    test, val = run.test_of(record), run.data.fold(run.fold_of(record)).val
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
    except (KeyError, Unusable):  # a cell from before predictions_val.json: the threshold it chose then
        threshold = ((record.get("metrics") or {}).get("operating_point") or {}).get("threshold")
        if not _is_number(threshold):
            raise Skip("no validation predictions (predictions_val.json) and no recorded "
                       "metrics.operating_point.threshold") from None
        return CellInputs(preds, kwargs | {"operating_threshold": float(threshold)}, "recorded threshold")


def rescore_cell(run: SavedRun, record: dict[str, Any], stamp: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The cell's record with metrics scored again (and its gallery redrawn), and a warning if any."""
    t0 = time.perf_counter()
    inputs = cell_inputs(run, record)
    artifacts = dict(record["artifacts"])
    try:
        metrics = evaluate_predictions(run.test_of(record), inputs.preds, **inputs.kwargs)
    except ValueError as exc:
        raise Skip(f"{run.root / artifacts['predictions']}: {exc}") from None
    if "operating_threshold" in inputs.kwargs:  # keep saying how the threshold was chosen, and that it was reused
        old = record["metrics"]["operating_point"]
        base = str(old.get("source") or "recorded").removesuffix(f", {REUSED_THRESHOLD}")
        metrics["operating_point"] |= {"source": f"{base}, {REUSED_THRESHOLD}", "val_f1": old.get("val_f1")}
    new = {**record, "metrics": metrics, "artifacts": artifacts, "rescored": stamp}
    test = run.test_of(record)
    if record.get("curve"):  # the learning curve from its checkpoints' saved predictions, by the same rules
        kwargs = run.matrix.metrics.eval_kwargs()
        new["curve"] = [p | score_point(test, read_predictions(run.root / p["predictions"], len(test)), kwargs)
                        for p in record["curve"]]
    problem = write_gallery(test, inputs.preds, new, run.root / "work" / record["id"])
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
            except Unusable as exc:
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

    cells = [new.get(r["id"], r) for r in run.records]
    results = {**run.results, "cells": cells, "summary": summarize(cells)}
    results["run"] = {**results["run"], "rescored": stamp,
                      "metric_directions": metric_directions(run.matrix.metrics.iou_thresholds)}
    warnings = []
    scores = results.get("generator_scores")
    if isinstance(scores, dict) and "gain" in scores:  # the gains are the cells' metrics: made again
        try:
            results["generator_scores"] = score_gains(dict(scores), cells, run.matrix.scores, run.root)
        except Exception as exc:  # the cells are rescored either way; only the score-vs-gain part is stale
            warnings.append(f"generator_scores.gain not recomputed: {type(exc).__name__}: {exc}")
    store.write_results(results)
    return warnings

