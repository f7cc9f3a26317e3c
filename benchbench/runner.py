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
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchbench import __version__
from benchbench.cache import Cache
from benchbench.editable import editable_code, stale_warnings
from benchbench.environment import environment, plugin_distributions
from benchbench.evaluation import DIRECTIONS, iou_metric_name
from benchbench.executors.queue import Job, JobQueue, run_in_waves
from benchbench.frames import Box, FrameSet
from benchbench.genscore.runscores import attach_scores, unscored_tasks
from benchbench.hashing import file_sha256, sha256_json
from benchbench.jobs import (
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
from benchbench.matrix import Matrix
from benchbench.planner import Cell, GenTask, Plan, cell_unit, gen_unit, label_id, make_plan
from benchbench.plugins import PluginRef, Plugins, get_plugins
from benchbench.store import SCHEMA_VERSION, TEST_GT, RunStore, run_folder

if TYPE_CHECKING:
    from benchbench.data.split import LoadedSplit


# --------------------------------------------------------------------------- driver
@dataclass
class RunOptions:
    results_dir: Path = Path("results")
    cache_dir: Path = Path(".benchbench-cache")
    fresh: bool = False
    executor: str | None = None
    executor_options: dict[str, Any] = field(default_factory=dict)
    run_name: str | None = None


@dataclass
class Prepared:
    matrix: Matrix
    matrix_file: str
    matrix_sha256: str
    train: FrameSet
    val: FrameSet | None
    test: FrameSet
    plan: Plan
    data_hash: str
    gen_ids: dict[str, dict[str, Any]]
    dataset_info: dict[str, Any]
    provenance: dict[str, dict[str, Any]] = field(default_factory=dict)  # generator -> training provenance
    rows: dict[tuple[str, str], PluginRef] = field(default_factory=dict)  # (kind, row name) -> its plugin

    def ref(self, kind: str, name: str) -> PluginRef:
        return self.rows[kind, name]

    @functools.cached_property
    def frame_size(self) -> int:
        """The size generators are asked for: the median long side of the real training frames."""
        sizes = [max(f.width, f.height) for f in self.train]
        return int(np.median(sizes)) if sizes else 128


def prepare(matrix: Matrix, matrix_file: str, matrix_sha256: str, cache: Cache,
            plugins: Plugins | None = None) -> Prepared:
    """Load data, split it (refusing leaks), fingerprint plugins and have the planner plan the cells."""
    plugins = plugins or get_plugins()
    data, data_hash = load_data(matrix, matrix_file, cache, plugins)
    train, val, test = data.train, data.val, data.test
    rows = {("generators", g.name): PluginRef.of("generators", g) for g in matrix.generators}
    rows |= {("detectors", d.name): PluginRef.of("detectors", d) for d in matrix.detectors}
    uses_guidance, gives_boxes, gen_ids = {}, {}, {}
    for i, g in enumerate(matrix.generators):
        entry = plugins.registry("generators").get(g.plugin_name, field=f"generators[{i}].plugin", file=matrix_file)
        gen = plugins.instance(rows["generators", g.name])
        uses_guidance[g.name] = bool(entry.meta.get("uses_guidance", True))
        gives_boxes[g.name] = bool(entry.meta.get("gives_boxes", False))
        gen_ids[g.name] = {"plugin": entry.name, "version": getattr(gen, "version", entry.version),
                           "fingerprint": gen.fingerprint(), "params": g.params}
    step_budget = {d.name: bool(getattr(plugins.instance(rows["detectors", d.name]), "trains_by_steps", False))
                   for d in matrix.detectors} if "steps" in matrix.axes.budget else {}
    plan = make_plan(matrix, uses_guidance, len(train.positives()), len(train.negatives()), step_budget,
                     gives_boxes=gives_boxes, file=matrix_file)
    provenance = generator_provenance(matrix, matrix_file, plugins, test, matrix.used_generators())
    info = {"dataset": data.entry.name, "plugin": data.entry.plugin, "fingerprint": data.dataset.fingerprint(),
            "params": matrix.data.params, "n_frames": len(data.frames), "n_train": len(train),
            "n_val": len(val) if val else 0, "n_test": len(test),
            "train_groups": train.groups(), "test_groups": test.groups(), "manifest_hash": data_hash}
    return Prepared(matrix, matrix_file, matrix_sha256, train, val, test, plan, data_hash, gen_ids, info,
                    provenance, rows)


def load_data(matrix: Matrix, matrix_file: str, cache: Cache, plugins: Plugins) -> tuple[LoadedSplit, str]:
    """The matrix's train / val / test frames and their manifest hash (``run.data.manifest_hash``)."""
    from benchbench.data.split import load_split

    data = load_split(matrix, matrix_file, plugins, cache=cache)
    data_hash = sha256_json({"train": data.train.manifest_hash(), "test": data.test.manifest_hash(),
                             "val": data.val.manifest_hash() if data.val else None})
    return data, data_hash


def metric_directions(matrix: Matrix) -> dict[str, bool]:
    """Metric name -> higher is better, for every metric the evaluator writes with this matrix."""
    return DIRECTIONS | {iou_metric_name(t): True for t in matrix.metrics.iou_thresholds}


def generator_provenance(matrix: Matrix, matrix_file: str, plugins: Plugins, test: FrameSet,
                         used: set[str]) -> dict[str, dict[str, Any]]:
    """Each used generator's training provenance; a user error when it trained on the test specimens."""
    from benchbench.provenance import check_against_test

    out = {}
    for i, g in enumerate(matrix.generators):
        if g.name not in used:
            continue
        gen = plugins.instance(PluginRef.of("generators", g))
        manifest = gen.training_manifest() if hasattr(gen, "training_manifest") else None
        field = f"generators[{i}]" + (".weights" if "weights" in g.params else "")
        out[g.name] = check_against_test(g.name, manifest, test, file=matrix_file, field=field)
    return out


def cell_key(p: Prepared, cell: Cell, plugins: Plugins) -> str:
    det = next(d for d in p.matrix.detectors if d.name == cell.detector)
    entry = plugins.registry("detectors").get(det.plugin_name)
    return sha256_json({
        "cell": cell.to_dict(), "detector": {"plugin": entry.name, "version": entry.version,
                                             "params": det.params},
        "generator": p.gen_ids.get(cell.generator or ""), "data": p.data_hash,
        "metrics": p.matrix.metrics.key(), "labeler": p.matrix.labeler.model_dump(),
        "mode": p.matrix.mode, "positive_fraction": p.matrix.positive_fraction,
    })


@functools.lru_cache(maxsize=1)  # results.json is rewritten after every cell: ask git once
def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


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
        self.results: dict[str, dict[str, Any]] = {}
        self._cells = {c.id: c for c in prepared.plan.cells}
        self._frames: dict[str, Any] = {}
        self._executor_in_use: Any = None
        self.generated: dict[str, dict[str, Any]] = {}  # generation task id -> its frames
        self.gen_errors: dict[str, str] = {}
        self.labels: dict[tuple[str, str], Any] = {}  # (baseline id, task id) -> teacher boxes
        self.label_errors: dict[tuple[str, str], str] = {}
        self.started = ""
        self.checksums: dict[str, str] = {}  # run folder file -> sha256 when written
        self.environment = environment(plugin_distributions())  # once: results.json is rewritten per cell

    # -- helpers
    def _executor(self):
        from benchbench.executors.options import option_fields, run_executor_options

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
        for c in plan.cells:
            done = self.store.completed(c.id, keys[c.id])
            if done is not None:
                self.results[c.id] = done
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

        results = self._write_results(started, datetime.now(UTC).isoformat())
        results = attach_scores(self, results)  # generator scores; never raises (benchbench.genscore)
        try:
            self._samples(self.generated)
        except Exception as exc:  # a picture must never cost a finished run
            self.observer_errors.append(f"sample grid not written: {type(exc).__name__}: {exc}")
        failed = [cid for cid, r in self.results.items() if r.get("status") != "ok"]
        self.observer_errors += self.cache.problems
        return RunSummary(self.store.root, results, failed, self.observer_errors)

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
        return GenJob(t, self.p.ref("generators", t.generator), self.p.gen_ids[t.generator], self.opt.cache_dir,
                      self.store.work_dir(f"gen__{t.id}"), self.p.frame_size,
                      timeout=self._timeout("generators", t.generator))

    def _generation_done(self, t: GenTask, res: Any) -> None:
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
        key = sha256_json({"teacher": keys[c.baseline_id], "frames": paths})
        return LabelJob(self.p.ref("detectors", c.detector), c.baseline_id, c.seed, frames, key,
                        self.store.work_dir(c.baseline_id), self.opt.cache_dir,
                        timeout=self._timeout("detectors", c.detector))

    def _labels_done(self, pair: tuple[str, str], res: Any) -> None:
        self._unit_done(f"label:{pair[0]}")
        if isinstance(res, BaseException):
            self.label_errors[pair] = error_line(res)
        else:
            self.labels[pair] = res
            self.observer_errors += res.get("cache_problems", [])

    def _header(self, c: Cell) -> dict[str, Any]:
        """What a cell's record says besides its own outcome (filled in as its job is built)."""
        m = self.p.matrix
        extra = {"labeler": m.labeler.model_dump(), "mode": m.mode,
                 "run": {"name": m.name, "dir": str(self.store.root), "leaderboard": m.leaderboard},
                 "counts": {"real_train_pos": c.n_real_pos, "real_train_neg": c.n_real_neg,
                            "test": len(self.p.test), "test_pos": len(self.p.test.positives())}}
        return extra

    def _cell_job(self, c: Cell, key: str, header: dict[str, Any]) -> CellJob:
        train = self._real_train(c)
        if c.generator is not None:
            syn, syn_counts = self._synthetic_for(c)
            header["counts"] |= syn_counts
            train = train + syn
            header["generator"] = {"name": c.generator, **self.p.gen_ids[c.generator]}
        return CellJob(c, key, self.p.ref("detectors", c.detector), train, self.p.val, self.p.test,
                       self.store.work_dir(c.id), self.opt.cache_dir, self.p.matrix.metrics.eval_kwargs(), header,
                       timeout=self._timeout("detectors", c.detector),
                       curve=tuple(self.p.matrix.metrics.curve or ()))

    def _cell_done(self, c: Cell, key: str, header: dict[str, Any], res: Any) -> None:
        if isinstance(res, BaseException):  # it could not start, its worker died, or it timed out
            res = cell_record(c, key, header, error=res)
        self._finish(res)

    def _frame(self, path: str):
        """A cached synthetic frame, read once per run (many cells share the same prefixes)."""
        if path not in self._frames:
            self._frames[path] = self.cache.get_frame_by_path(path)
        return self._frames[path]

    def _write_test_set(self) -> None:
        """The held-out ground truth (COCO + groups), so runs can be re-scored and compared later."""
        from benchbench.data.export import test_ground_truth
        from benchbench.store import atomic_write_json

        gt = self.store.root / TEST_GT
        atomic_write_json(gt, test_ground_truth(self.p.test))
        self.checksums = {TEST_GT: file_sha256(gt)}  # `bench rescore` refuses a test_gt.json changed since

    def _synthetic_for(self, cell: Cell) -> tuple[FrameSet, dict[str, int]]:
        frames = self._frames_of(cell.gen_task_id)  # type: ignore[arg-type]
        pos = [self._frame(p) for p in frames.get("crack", [])[:cell.n_syn_pos]]
        neg = [self._frame(p) for p in frames.get("sane", [])[:cell.n_syn_neg]]
        dropped = 0
        teacher = self.p.plan.teacher_of(cell)
        if teacher is not None:
            pair = (teacher, cell.gen_task_id)
            lab = self.labels.get(pair)  # type: ignore[arg-type]
            if lab is None:
                raise DependencyFailed(f"needs teacher labels {label_id(*pair)}, which failed: "  # type: ignore[arg-type]
                                       f"{self.label_errors.get(pair, 'they were not made')}")  # type: ignore[arg-type]
            thr = self.p.matrix.labeler.threshold
            kept = []
            for f, boxes in zip(pos, lab["boxes"][:len(pos)], strict=True):
                bs = tuple(Box(*b["bbox"], score=b["score"]) for b in boxes if b["score"] >= thr)
                if bs:
                    kept.append(f.with_boxes(bs))
                else:
                    dropped += 1
            pos = kept
        counts = {"synthetic_pos_planned": cell.n_syn_pos, "synthetic_pos": len(pos),
                  "synthetic_pos_dropped": dropped, "synthetic_neg": len(neg)}
        return FrameSet(pos + neg, "synthetic"), counts

    def _real_train(self, cell: Cell) -> FrameSet:
        pos, neg = self.p.train.positives(), self.p.train.negatives()
        if cell.n_real_pos == len(pos) and cell.n_real_neg == len(neg):
            return self.p.train
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
        self.results[res["id"]] = res
        self._write_results(self.started, None)  # `bench report` on a killed run shows what it finished
        self.observer_errors += [f"{res['id']}: {w}" for w in res.get("warnings", [])]
        self.observer_errors += self.plugins.cell_finished(cell, res)
        if self.progress is not None:
            self.progress.cell_done(res)

    def _write_results(self, started: str, finished: str | None) -> dict[str, Any]:
        from benchbench.summary import summarize

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
                "generator_provenance": self.p.provenance,
                "warnings": [p["warning"] for p in self.p.provenance.values() if p.get("warning")],
                "metric_directions": metric_directions(m),
                "checksums": self.checksums,
            },
            "cells": cells,
            "summary": summarize(cells),
        }
        self.store.write_results(results)
        return results

    def _samples(self, generated: dict[str, dict[str, Any]]) -> None:
        """One grid per (generator, guidance): real training frames above synthetic ones (first seed)."""
        n = self.p.matrix.samples
        if not n:
            return
        from benchbench.report.samples import sample_grid

        first_seed = self.p.matrix.seed[0]
        for task in self.p.plan.gen_tasks:
            g = generated.get(task.id)
            if g is None or task.seed != first_seed:
                continue
            paths = g["frames"].get("crack", [])[: n - n // 4] + g["frames"].get("sane", [])[: n // 4]
            label = task.generator + ("" if task.guidance is None else f" g={task.guidance:g}")
            rows = {"real (train)": self.p.train,
                    f"{label}": FrameSet([self._frame(p) for p in paths], label)}
            name = f"{task.generator}_g{'-' if task.guidance is None else f'{task.guidance:g}'}.png"
            sample_grid(rows, self.store.root / "samples" / name, n=n)
