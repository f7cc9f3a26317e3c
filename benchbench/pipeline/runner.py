"""Drive a planned matrix: load data, fingerprint plugins, then run the plan's jobs.

The planner decides the cells and what each waits for; this module builds the jobs (generation,
teacher labels, cells) into one queue, and the executor starts each as soon as its own
dependencies have ended: a synthetic cell waits for its frames (and its teacher's labels), not
for every baseline. Every finished cell is written atomically at once, so a killed run loses
nothing and the same command resumes it.
"""

from __future__ import annotations

import functools
import platform
import sys
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchbench import __version__
from benchbench.data.export import test_ground_truth
from benchbench.data.folds import Fold, fold_keys, fold_params
from benchbench.data.provenance import check_against_test
from benchbench.data.split import load_split
from benchbench.drawing.samples import sample_grid
from benchbench.editable import editable_code, stale_warnings
from benchbench.environment import environment, git_commit, plugin_distributions
from benchbench.errors import DiskFull
from benchbench.executors.options import option_fields, run_executor_options
from benchbench.executors.queue import Job, JobQueue, run_in_waves
from benchbench.frames import Box, FrameSet
from benchbench.hashing import file_sha256, sha256_json
from benchbench.method.evaluation import metric_directions
from benchbench.method.matrix import Matrix
from benchbench.method.teacher import frame_mask_boxes, mask_agreement, teacher_labels
from benchbench.pipeline.calibration import calibrate, calibration_record, with_real_sizes
from benchbench.pipeline.generated import prepared_scores, unscored_tasks
from benchbench.pipeline.jobs import (
    CellJob,
    DependencyFailed,
    GenJob,
    LabelJob,
    cell_record,
    error_line,
    run_cell_job,
    run_generation_job,
    run_label_job,
)
from benchbench.pipeline.observing import Observers
from benchbench.pipeline.planner import Cell, GenTask, Plan, cell_unit, gen_unit, label_id, plan_folds
from benchbench.plugins import PluginRef, Plugins, get_plugins
from benchbench.records.archive import LABELS, Archive
from benchbench.records.cache import Cache
from benchbench.records.schema import Results
from benchbench.records.store import SCHEMA_VERSION, RunStore, atomic_write_json, ground_truth_file, run_folder
from benchbench.records.summary import summarize


# --------------------------------------------------------------------------- driver
@dataclass
class RunOptions:
    results_dir: Path = Path("results")
    cache_dir: Path = Path(".benchbench-cache")
    fresh: bool = False
    executor: str | None = None
    executor_options: dict[str, Any] = field(default_factory=dict)
    run_name: str | None = None
    archive: Path | None = None  # benchbench.records.archive: finished cells and teacher labels, kept there too


PerFold = dict[tuple[str, int | None], dict[str, Any]]  # (generator row, fold) -> a mapping


@dataclass
class Prepared:
    matrix: Matrix
    matrix_file: str
    matrix_sha256: str
    folds: list[Fold]  # one, index None, for a plain split
    plan: Plan
    data_hash: str
    gen_ids: PerFold  # (generator row, fold) -> its identity (cache keys)
    dataset_info: dict[str, Any]
    provenance: dict[str, dict[str, Any]] = field(default_factory=dict)  # generator -> training provenance
    rows: dict[tuple[str, str], PluginRef] = field(default_factory=dict)  # (kind, row name) -> its plugin
    calibration: PerFold = field(default_factory=dict)  # (generator row, fold) -> its calibration

    def ref(self, kind: str, name: str, fold: int | None = None) -> PluginRef:
        """A row's plugin; a generator's with its weights for ``fold`` (``weights`` may name one per fold)."""
        ref = self.rows[kind, name]
        return replace(ref, params=fold_params(ref.params, fold)) if kind == "generators" else ref

    def fold(self, index: int | None) -> Fold:
        return next(f for f in self.folds if f.index == index)

    def gen_id(self, name: str, fold: int | None) -> dict[str, Any]:
        return self.gen_ids[name, fold]

    # Sample grids look at one fold: the first (a plain split's only one); the generator scores at each.
    @property
    def train(self) -> FrameSet:
        return self.folds[0].train

    @property
    def test(self) -> FrameSet:
        return self.folds[0].test

    @property
    def frame_size(self) -> int:
        return self.folds[0].frame_size


def prepare(matrix: Matrix, matrix_file: str, matrix_sha256: str, cache: Cache,
            plugins: Plugins | None = None) -> Prepared:
    """Load data, split it (refusing leaks), fingerprint and calibrate generators per fold, and have the
    planner plan the cells of every fold."""
    plugins = plugins or get_plugins()
    data = load_split(matrix, matrix_file, plugins, cache=cache)
    data_hash = data.manifest_hash
    folds = data.folds
    rows = {("generators", g.name): PluginRef.of("generators", g) for g in matrix.generators}
    rows |= {("detectors", d.name): PluginRef.of("detectors", d) for d in matrix.detectors}
    uses_guidance, gives_boxes = {}, {}
    for i, g in enumerate(matrix.generators):
        entry = plugins.registry("generators").get(g.plugin_name, field=f"generators[{i}].plugin", file=matrix_file)
        uses_guidance[g.name] = bool(entry.meta.get("uses_guidance", True))
        gives_boxes[g.name] = bool(entry.meta.get("gives_boxes", False))
    gen_ids, calibration = generator_ids(matrix, plugins, folds, cache)
    step_budget = {d.name: bool(getattr(plugins.instance(rows["detectors", d.name]), "trains_by_steps", False))
                   for d in matrix.detectors} if "steps" in matrix.axes.budget else {}
    plan = plan_folds(matrix, uses_guidance, [(f.index, len(f.train.positives()), len(f.train.negatives()))
                                              for f in folds], step_budget, gives_boxes=gives_boxes, file=matrix_file)
    provenance = generator_provenance(matrix, matrix_file, plugins, folds, matrix.used_generators(), calibration)
    info = {"dataset": data.entry.name, "plugin": data.entry.plugin, "fingerprint": data.dataset.fingerprint(),
            "params": matrix.data.params, "n_frames": len(data.frames), "manifest_hash": data_hash}
    if folds[0].index is None:
        only = folds[0].describe()
        info |= {k: only[k] for k in ("n_train", "n_val", "n_test", "train_groups", "test_groups")}
    return Prepared(matrix, matrix_file, matrix_sha256, folds, plan, data_hash, gen_ids, info, provenance, rows,
                    calibration)


def generator_ids(matrix: Matrix, plugins: Plugins, folds: list[Fold], cache: Cache) -> tuple[PerFold, PerFold]:
    """Each generator row's identity per fold (plugin, version, fingerprint, parameters: what its frames are
    cached by) and, for a used generator that calibrates itself or whose row says ``resize: real``, its
    calibration on the fold's training frames, whose hash joins the identity so that no fold is served frames
    of another calibration."""
    ids, calibration = {}, {}
    used = matrix.used_generators()
    for i, g in enumerate(matrix.generators):
        entry = plugins.registry("generators").get(g.plugin_name)
        for fold in folds:
            params = fold_params(g.params, fold.index)
            gen = plugins.instance(PluginRef("generators", g.name, g.plugin_name, params))
            gid = {"plugin": entry.name, "version": getattr(gen, "version", entry.version),
                   "fingerprint": gen.fingerprint(), "params": params}
            calib = calibrate(gen, gid, fold.train, cache, name=g.name, field=f"generators[{i}]") \
                if g.name in used else None
            if g.name in used and g.resize == "real":
                calib = with_real_sizes(calib, fold.train)
            if calib is not None:
                calibration[g.name, fold.index] = calib
                gid["calibration"] = sha256_json(calib)
            ids[g.name, fold.index] = gid
    return ids, calibration


def generator_provenance(matrix: Matrix, matrix_file: str, plugins: Plugins, folds: list[Fold], used: set[str],
                         calibration: PerFold | None = None) -> dict[str, dict[str, Any]]:
    """Each used generator's training provenance, checked per fold against that fold's test specimens (a
    user error when its weights saw one), with the frames it was calibrated on; see fold_provenance."""
    out = {}
    for i, g in enumerate(matrix.generators):
        if g.name not in used:
            continue
        records = []
        for fold in folds:
            gen = plugins.instance(replace(PluginRef.of("generators", g), params=fold_params(g.params, fold.index)))
            manifest = gen.training_manifest() if hasattr(gen, "training_manifest") else None
            key = "weights" if "weights" in g.params else next(iter(fold_keys(g.params)), None)
            field = f"generators[{i}]" + (f".{key}" if key else "")
            rec = check_against_test(g.name, manifest, fold.test, file=matrix_file, field=field)
            calib = (calibration or {}).get((g.name, fold.index))
            if calib is not None:
                rec["calibration"] = calibration_record(calib, fold.train)
            records.append(rec)
        out[g.name] = fold_provenance(folds, records)
    return out


def fold_provenance(folds: list[Fold], records: list[dict[str, Any]]) -> dict[str, Any]:
    """One generator's provenance: a plain split's record as it is; with folds, one record per fold under
    ``folds`` and the status (and warning) of the whole, ``unknown`` when some fold's is."""
    if folds[0].index is None:
        return records[0]
    worst = next((r for r in records if r["status"] != "checked"), records[0])
    head = {k: worst[k] for k in ("status", "warning") if k in worst}
    return head | {"folds": [{"fold": f.index, "test_groups": f.test_groups, **r}
                             for f, r in zip(folds, records, strict=True)]}


def cell_key(p: Prepared, cell: Cell, plugins: Plugins) -> str:
    det = next(d for d in p.matrix.detectors if d.name == cell.detector)
    entry = plugins.registry("detectors").get(det.plugin_name)
    return sha256_json({
        "cell": cell.to_dict(), "detector": {"plugin": entry.name, "version": entry.version,
                                             "params": det.params},
        "generator": p.gen_ids.get((cell.generator or "", cell.fold)),
        "data": p.fold(cell.fold).manifest_hash,  # a plain split's: the run's, as before folds
        "metrics": p.matrix.metrics.key(), "labeler": p.matrix.labeler_of(cell.generator).key(),
        "mode": p.matrix.mode, "positive_fraction": p.matrix.positive_fraction,
    })


def stop_if_disk_full(res: Any) -> None:
    """A job that found the disk full stops the run (a one-line error, exit 2): the next jobs would too."""
    if isinstance(res, DiskFull):
        raise res


@dataclass
class RunSummary:
    run_dir: Path
    results: dict[str, Any]
    failed: list[str]
    observer_errors: list[str]


class Runner:
    def __init__(self, prepared: Prepared, options: RunOptions, plugins: Plugins | None = None,
                 progress: Any = None):
        self.p = prepared
        self.opt = options
        self.plugins = plugins or get_plugins()
        self.cache = Cache(options.cache_dir)
        self.store = RunStore(run_folder(options.results_dir, options.run_name or prepared.matrix.name,
                                         "--run-name" if options.run_name else "name"))
        self.progress = progress  # benchbench.progress.RunProgress or None
        self.gen_stats = {"generated": 0, "cached": 0, "seconds": 0.0}
        self.observer_errors: list[str] = []
        self.observers = Observers(self.plugins)
        self.results: dict[str, dict[str, Any]] = {}
        self._cells = {c.id: c for c in prepared.plan.cells}
        self._frames: dict[str, Any] = {}
        self._executor_in_use: Any = None
        self.generated: dict[str, dict[str, Any]] = {}  # generation task id -> its frames
        self.gen_errors: dict[str, str] = {}
        self.labels: dict[tuple[str, str], Any] = {}  # (baseline id, task id) -> teacher boxes
        self.archive = Archive(options.archive) if options.archive is not None else None
        self.restored: set[str] = set()  # cells put back from the archive: records without their work folders
        self.label_errors: dict[tuple[str, str], str] = {}
        self.started = ""
        self.checksums: dict[str, str] = {}  # run folder file -> sha256 when written
        self.environment = environment(plugin_distributions())  # once: results.json is rewritten per cell

    # -- helpers
    def _executor(self):
        entry, opts = run_executor_options(self.plugins, self.p.matrix, self.p.matrix_file, self.opt.executor,
                                           self.opt.executor_options)
        model = entry.options_model()
        if model is not None and "folder" in option_fields(model) and opts.get("folder") is None:
            # an executor's own files (submitit's pickles and logs) go next to the results, on the shared disk
            opts["folder"] = str(Path(self.opt.results_dir) / f".{entry.name}")
        self._executor_in_use = entry.create(**opts)
        return self._executor_in_use

    def _entry(self, kind: str, name: str):
        return self.plugins.registry(kind).get(self.p.ref(kind, name).plugin)

    @functools.cached_property
    def _code(self) -> dict[str, str]:
        return editable_code(self.plugins.info.values())

    def _timeout(self, kind: str, name: str) -> float | None:
        rows = self.p.matrix.detectors if kind == "detectors" else self.p.matrix.generators
        return self.p.matrix.timeout_of(next(r for r in rows if r.name == name))

    def _tick(self, unit: str, phase: str, frac: float | None) -> None:
        if self.progress is not None:
            self.progress.phase(unit, phase, frac)

    def _unit_done(self, unit: str) -> None:
        if self.progress is not None:
            self.progress.unit_done(unit)

    # -- main
    def run(self) -> RunSummary:
        """Run the pending cells, holding the run folder's lock; the executor's workers end with it."""
        self.store.prepare(fresh=self.opt.fresh)
        try:
            return self._run()
        finally:
            close = getattr(self._executor_in_use, "close", None)
            if close is not None:
                close()
            self.store.release()

    def _run(self) -> RunSummary:
        started = self.started = datetime.now(UTC).isoformat()
        self.run_id = self.store.run_id()
        plan = self.p.plan
        keys = {c.id: cell_key(self.p, c, self.plugins) for c in plan.cells}
        self.results = {c.id: rec for c in plan.cells if (rec := self.store.completed(c.id, keys[c.id])) is not None}
        if self.archive is not None:
            self._restore(keys)
        self.observer_errors += stale_warnings(self.results.values(), self._code,
                                               {i.name: i.dist for i in self.plugins.info.values()})
        pending = [c for c in plan.cells if c.id not in self.results]
        if self.progress is not None:
            self.progress.start(len(plan.cells), len(plan.cells) - len(pending))
        executor = self._executor()
        self._write_test_set()
        if pending:  # a run with nothing left to do writes results.json once, at the end
            self._write_results(started, None)
        queue = JobQueue(self._jobs(pending, keys))
        if hasattr(executor, "run"):
            executor.run(queue, self._tick)
        else:
            run_in_waves(executor, queue, self._tick)

        self.observer_errors += self.observers.close()  # before the scores: they may take a while themselves
        results = self._write_results(started, datetime.now(UTC).isoformat())
        results = self._scores(results)
        try:
            self._samples(self.generated)
        except Exception as exc:  # a picture must never cost a finished run
            self.observer_errors.append(f"sample grid not written: {type(exc).__name__}: {exc}")
        failed = [cid for cid, r in self.results.items() if r.get("status") != "ok"]
        self.observer_errors += self.cache.problems
        return RunSummary(self.store.root, results, failed, self.observer_errors)

    def _restore(self, keys: dict[str, str]) -> None:
        """Archive the cells this run folder finished before it had an archive; put back (unless --fresh) the
        archived ones it lacks, less the real-only baselines that a cell still to run needs labels from and
        whose labels of that cell's generated set are not archived: restored without their model they could
        not make them, so they are fitted again (and label every set again)."""
        archive = self.archive
        assert archive is not None
        for cell_id, rec in self.results.items():
            if archive.completed(cell_id, keys[cell_id]) is None:
                archive.save_cell(rec)
        if self.opt.fresh:
            return
        found = {i: rec for i, k in keys.items() if i not in self.results and (rec := archive.completed(i, k))}
        labels = archive.read_labels()
        pairs = {(d["teacher"], d["task"]) for d in labels.values()}
        refit = self._refit(found, pairs)
        # Archived labels serve only teachers whose archived record stands: a teacher fitted in this run labels
        # every set again, so the cells it teaches learn from the fit its record reports (a fit moves with the
        # machine: docs/study.md).
        standing = set(self.results) | (set(found) - refit)
        unstored = set()
        for key, data in labels.items():
            if data["teacher"] not in standing or self.cache.get_json(LABELS, key) is not None:
                continue
            try:
                self.cache.put_json(LABELS, key, data)
            except OSError:
                unstored.add((data["teacher"], data["task"]))
        if unstored:  # labels the cache could not keep are not there to use: their teachers are fitted again
            refit |= self._refit(found, pairs - unstored)
        for cell_id, rec in found.items():
            if cell_id not in refit:
                self.store.write_cell(rec)
                self.results[cell_id] = rec
                self.restored.add(cell_id)

    def _refit(self, found: dict[str, Any], labelled: set[tuple[str, str]]) -> set[str]:
        """The archived real-only baselines that a cell still to run needs labels from which ``labelled``
        (teacher, generation task) pairs lack."""
        plan = self.p.plan
        return {t for c in plan.cells if c.id not in self.results and c.id not in found
                and (t := plan.teacher_of(c)) in found and (t, c.gen_task_id) not in labelled}

    # -- the jobs of a run and what each waits for (the plan's dependencies)
    def _jobs(self, pending: list[Cell], keys: dict[str, str]) -> list[Job]:
        """Generation first, then cells in plan order with teacher labels before the cells they serve:
        the order in which an executor starts ready jobs."""
        plan = self.p.plan
        needed = {c.gen_task_id for c in pending if c.generator}
        needed |= unscored_tasks(self.p, self.cache, needed)
        jobs: list[Job] = []
        for t in plan.gen_tasks:
            if t.id not in needed:
                continue
            if t.n == 0:  # a ratio too small to round to one frame: nothing to generate
                self.generated[t.id] = {"id": t.id, "frames": {}}
                continue
            jobs.append(Job(gen_unit(t.id), run_generation_job, functools.partial(self._gen_job, t),
                            functools.partial(self._generation_done, t)))
        labelled: set[tuple[str, str]] = set()
        for c in pending:
            teacher = plan.teacher_of(c)
            pair = (teacher, c.gen_task_id)
            if teacher is not None and pair not in labelled:
                labelled.add(pair)  # type: ignore[arg-type]
                jobs.append(Job(label_id(*pair), run_label_job,  # type: ignore[arg-type]
                                functools.partial(self._label_job, c, keys), functools.partial(self._labels_done, pair),
                                after=(gen_unit(c.gen_task_id), cell_unit(teacher))))  # type: ignore[arg-type]
            header = self._header(c)
            jobs.append(Job(cell_unit(c.id), run_cell_job, functools.partial(self._cell_job, c, keys[c.id], header),
                            functools.partial(self._cell_done, c, keys[c.id], header), after=tuple(plan.needs(c))))
        return jobs

    def _gen_job(self, t: GenTask) -> GenJob:
        return GenJob(t, self.p.ref("generators", t.generator, t.fold), self.p.gen_id(t.generator, t.fold),
                      self.opt.cache_dir, self.store.work_dir(f"gen__{t.id}"), self.p.fold(t.fold).frame_size,
                      timeout=self._timeout("generators", t.generator),
                      calibration=self.p.calibration.get((t.generator, t.fold)))

    def _generation_done(self, t: GenTask, res: Any) -> None:
        stop_if_disk_full(res)
        self._unit_done(t.id)
        if isinstance(res, BaseException):
            self.gen_errors[t.id] = error_line(res)
            return
        self.generated[t.id] = res
        self.observer_errors += res.get("cache_problems", [])
        for k in ("generated", "cached", "seconds"):
            self.gen_stats[k] += res[k]

    def _frames_of(self, task_id: str) -> dict[str, list[str]]:
        """The generated frames of a task, or the error naming the failed generation."""
        if task_id not in self.generated:
            raise DependencyFailed(f"needs generation {task_id}, which failed: "
                                   f"{self.gen_errors.get(task_id, 'it did not run')}")
        return self.generated[task_id]["frames"]

    def _label_job(self, c: Cell, keys: dict[str, str]) -> LabelJob:
        baseline = self.results.get(c.baseline_id) or {}
        if baseline.get("status") != "ok":
            raise DependencyFailed(f"needs teacher baseline {c.baseline_id}, which failed: "
                                   f"{baseline.get('error') or 'it did not run'}")
        paths = self._frames_of(c.gen_task_id).get("crack", [])  # type: ignore[arg-type]
        frames = FrameSet([self._frame(p) for p in paths], "synthetic")
        # what the teacher trained on, its score scale: only the relative rule reads it (two more predicts)
        relative = self.p.matrix.labeler_of(c.generator).rule == "relative"
        reference = self._real_train(self._cells[c.baseline_id]) if relative else None
        # the frames by their cache keys (file names), not their paths: labels archived on one machine
        # (benchbench.records.archive) serve another, whatever its --cache-dir
        key = sha256_json({"teacher": keys[c.baseline_id], "frames": [Path(p).name for p in paths],
                           "reference": [f.stem for f in reference or ()]})
        if c.baseline_id in self.restored and self.cache.get_json("labels", key) is None:
            raise DependencyFailed(
                f"needs teacher labels from {c.baseline_id}, whose record came from the archive without its "
                "model, and the archive has no labels for these frames: delete "
                f"cells/{c.baseline_id}.json from the archive and the run folder, and run again to refit it")
        return LabelJob(self.p.ref("detectors", c.detector), c.baseline_id, c.seed, frames, key,
                        self.store.work_dir(c.baseline_id), self.opt.cache_dir,
                        timeout=self._timeout("detectors", c.detector), reference=reference, task_id=c.gen_task_id)

    def _labels_done(self, pair: tuple[str, str], res: Any) -> None:
        stop_if_disk_full(res)
        self._unit_done(label_id(*pair))
        if isinstance(res, BaseException):
            self.label_errors[pair] = error_line(res)
        else:
            self.labels[pair] = res
            self.observer_errors += res.get("cache_problems", [])
            if self.archive is not None:
                self.archive.save_labels(res["key"], res, pair)

    def _header(self, c: Cell) -> dict[str, Any]:
        """What a cell's record says besides its own outcome (filled in as its job is built)."""
        m = self.p.matrix
        fold = self.p.fold(c.fold)
        extra = {"labeler": m.labeler_of(c.generator).model_dump(), "mode": m.mode,
                 # absolute: observers may run while an in-process job has its own directory
                 "run": {"name": m.name, "dir": str(self.store.root.absolute()),
                         "leaderboard": str(Path(m.leaderboard).absolute()) if m.leaderboard else None},
                 "fold": c.fold, "test_groups": fold.test_groups,
                 "counts": {"real_train_pos": c.n_real_pos, "real_train_neg": c.n_real_neg,
                            "test": len(fold.test), "test_pos": len(fold.test.positives())}}
        # how many synthetic frames per class reached the detector's training set (filled in with them;
        # None on a synthetic cell that failed before its frames were chosen)
        extra["synthetic_in_training"] = {"crack": 0, "sane": 0} if c.generator is None else None
        return extra

    def _cell_job(self, c: Cell, key: str, header: dict[str, Any]) -> CellJob:
        train = self._real_train(c)
        if c.generator is not None:
            syn, syn_counts, teacher = self._synthetic_for(c)
            header["counts"] |= syn_counts
            header["synthetic_in_training"] = {"crack": len(syn.positives()), "sane": len(syn.negatives())}
            if teacher:
                header["teacher"] = teacher
            train = train + syn
            header["generator"] = {"name": c.generator, **self.p.gen_id(c.generator, c.fold)}
        fold = self.p.fold(c.fold)  # each cell trains on its fold's specimens and is scored on the others only
        return CellJob(c, key, self.p.ref("detectors", c.detector), train, fold.val, fold.test,
                       self.store.work_dir(c.id), self.opt.cache_dir, self.p.matrix.metrics.eval_kwargs(), header,
                       timeout=self._timeout("detectors", c.detector),
                       curve=tuple(self.p.matrix.metrics.curve or ()))

    def _cell_done(self, c: Cell, key: str, header: dict[str, Any], res: Any) -> None:
        stop_if_disk_full(res)
        if isinstance(res, BaseException):  # it could not start, its worker died, or it timed out
            res = cell_record(c, key, header, error=res)
        self._finish(res)

    def _frame(self, path: str):
        """A cached synthetic frame, read once per run (many cells share the same prefixes)."""
        if path not in self._frames:
            self._frames[path] = self.cache.get_frame_by_path(path)
        return self._frames[path]

    def _write_test_set(self) -> None:
        """The held-out ground truth (COCO + groups) of each fold, so runs can be re-scored and compared later."""
        self.checksums = {}  # `bench rescore` refuses a ground truth file changed since
        for fold in self.p.folds:
            gt = self.store.root / ground_truth_file(fold.index)
            atomic_write_json(gt, test_ground_truth(fold.test))
            self.checksums[gt.name] = file_sha256(gt)

    def _synthetic_for(self, cell: Cell) -> tuple[FrameSet, dict[str, int], dict[str, Any] | None]:
        """The cell's synthetic frames (cracked ones with their boxes), its counts, and what the teacher did."""
        frames = self._frames_of(cell.gen_task_id)  # type: ignore[arg-type]
        pos = [self._frame(p) for p in frames.get("crack", [])[:cell.n_syn_pos]]
        neg = [self._frame(p) for p in frames.get("sane", [])[:cell.n_syn_neg]]
        n_pos = len(pos)
        info = None
        teacher = self.p.plan.teacher_of(cell)
        if teacher is not None:
            pair = (teacher, cell.gen_task_id)
            lab = self.labels.get(pair)  # type: ignore[arg-type]
            if lab is None:
                raise DependencyFailed(f"needs teacher labels {label_id(*pair)}, which failed: "  # type: ignore[arg-type]
                                       f"{self.label_errors.get(pair, 'they were not made')}")  # type: ignore[arg-type]
            spec = self.p.matrix.labeler_of(cell.generator)
            preds = [[Box(*b["bbox"], score=b["score"]) for b in boxes] for boxes in lab["boxes"][:len(pos)]]
            chosen, info = teacher_labels(preds, rule=spec.rule, threshold=spec.threshold, quantile=spec.quantile,
                                          reference=lab["reference"])
            kept = [(f, bs) for f, bs in zip(pos, chosen, strict=True) if bs is not None]
            pos = [f.with_boxes(bs) for f, bs in kept]
            if kept and all(isinstance(f.meta.get("mask"), str) for f, _ in kept):  # drawn around masks
                info = {**info, **mask_agreement([f for f, _ in kept], [bs for _, bs in kept],
                                                 cell.generator)}  # type: ignore[arg-type]
        elif self.p.plan.labeler_kind(cell.generator) == "mask":  # type: ignore[arg-type]
            pos = [f.with_boxes(bs) for f in pos if (bs := frame_mask_boxes(f, cell.generator))]  # type: ignore[arg-type]
        counts = {"synthetic_pos_planned": cell.n_syn_pos, "synthetic_pos": len(pos),
                  "synthetic_pos_dropped": n_pos - len(pos), "synthetic_neg": len(neg)}
        return FrameSet(pos + neg, "synthetic"), counts, info

    def _real_train(self, cell: Cell) -> FrameSet:
        train = self.p.fold(cell.fold).train
        pos, neg = train.positives(), train.negatives()
        if cell.n_real_pos == len(pos) and cell.n_real_neg == len(neg):
            return train
        rng = np.random.default_rng(cell.seed)
        keep_p = sorted(rng.permutation(len(pos))[:cell.n_real_pos])
        keep_n = sorted(rng.permutation(len(neg))[:cell.n_real_neg])
        return FrameSet([pos[i] for i in keep_p] + [neg[i] for i in keep_n], "train")

    def _finish(self, res: dict[str, Any]) -> None:
        cell = self._cells[res["id"]]
        used = {self._entry("detectors", cell.detector).plugin}
        if cell.generator:
            used.add(self._entry("generators", cell.generator).plugin)
        code = {p: self._code[p] for p in sorted(used) if p in self._code}
        if code:  # editable plugins only: what a later resume compares (benchbench.editable)
            res["plugin_code"] = code
        self.store.write_cell(res)
        if self.archive is not None:
            self.archive.save_cell(res)
        self.results[res["id"]] = res
        self._write_results(self.started, None)  # `bench report` on a killed run shows what it finished
        self.observer_errors += [f"{res['id']}: {w}" for w in res.get("warnings", [])]
        self.observers.submit(cell, res)  # observed in a thread: a slow tracking server never holds up the run
        if self.progress is not None:
            self.progress.cell_done(res)

    def _write_results(self, started: str, finished: str | None) -> dict[str, Any]:
        m = self.p.matrix
        order = [c.id for c in self.p.plan.cells]
        cells = [self.results[c] for c in order if c in self.results]
        results = {
            "schema_version": SCHEMA_VERSION,
            "run": {
                "id": self.run_id, "name": m.name, "matrix_file": self.p.matrix_file,
                "matrix_sha256": self.p.matrix_sha256,
                "matrix": m.model_dump(mode="json"), "git_commit": git_commit(),
                "benchbench_version": __version__, "plugins": self.plugins.versions(),
                "environment": self.environment,
                "python": sys.version.split()[0], "platform": platform.platform(),
                "machine": platform.machine(), "seeds": m.seed, "started": started, "finished": finished,
                "complete": finished is not None and len(cells) == len(order),
                "data": self.p.dataset_info,
                "generation": {"planned_frames": self.p.plan.planned_frames,
                               "naive_frames": self.p.plan.naive_frames, **self.gen_stats},
                "plan_notes": self.p.plan.notes,
                **({"folds": [f.describe() for f in self.p.folds]} if self.p.folds[0].index is not None else {}),
                "generator_provenance": self.p.provenance,
                "warnings": [p["warning"] for p in self.p.provenance.values() if p.get("warning")],
                "metric_directions": metric_directions(m.metrics.iou_thresholds),
                "checksums": self.checksums,
            },
            "cells": cells,
            "summary": summarize(cells),
        }
        Results.model_validate(results)  # a record that drifted from records.schema fails here, not in a reader
        self.store.write_results(results)
        return results

    def _scores(self, results: dict[str, Any]) -> dict[str, Any]:
        """results.json with ``generator_scores`` (benchbench.analysis.genscore). Never raises: a scoring failure is
        reported as a warning and costs no finished result."""
        if not self.p.matrix.scores.enabled or not self.p.plan.gen_tasks:
            return results
        try:
            results["generator_scores"] = prepared_scores(self.p, self.cache, results["cells"], self.store.root,
                                                          self.plugins)
            self.store.write_results(results)
        except Exception as exc:
            self.observer_errors.append(f"generator scores not computed: {error_line(exc)}")
        return results

    def _samples(self, generated: dict[str, dict[str, Any]]) -> None:
        """One grid per (generator, guidance): real training frames above synthetic ones (first seed and fold)."""
        n = self.p.matrix.samples
        if not n:
            return
        first_seed = self.p.matrix.seed[0]
        for task in self.p.plan.gen_tasks:
            g = generated.get(task.id)
            if g is None or task.seed != first_seed or task.fold != self.p.folds[0].index:
                continue
            paths = g["frames"].get("crack", [])[: n - n // 4] + g["frames"].get("sane", [])[: n // 4]
            label = task.generator + ("" if task.guidance is None else f" g={task.guidance:g}")
            rows = {"real (train)": self.p.train,
                    f"{label}": FrameSet([self._frame(p) for p in paths], label)}
            name = f"{task.generator}_g{'-' if task.guidance is None else f'{task.guidance:g}'}.png"
            sample_grid(rows, self.store.root / "samples" / name, n=n)
