"""Drive a planned matrix: data -> generation -> baselines -> teacher labels -> synthetic cells.

Each stage is a list of independent, picklable jobs handed to an executor; stages run in
dependency order. Every finished cell is written atomically at once, so a killed run
loses nothing and the same command resumes it.
"""

from __future__ import annotations

import functools
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchbench import __version__
from benchbench.cache import Cache
from benchbench.editable import editable_code, stale_warnings
from benchbench.errors import UserError
from benchbench.evaluation import DIRECTIONS, iou_metric_name
from benchbench.frames import Box, FrameSet
from benchbench.genscore.runscores import attach_scores
from benchbench.hashing import sha256_json
from benchbench.jobs import (
    CellJob,
    GenJob,
    LabelJob,
    error_line,
    run_cell_job,
    run_generation_job,
    run_label_job,
)
from benchbench.matrix import Matrix
from benchbench.planner import Cell, GenTask, Plan, make_plan
from benchbench.plugins import Plugins, get_plugins
from benchbench.store import SCHEMA_VERSION, RunStore, run_folder


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
    gives_boxes: dict[str, bool]
    dataset_info: dict[str, Any]
    provenance: dict[str, dict[str, Any]] = field(default_factory=dict)  # generator -> training provenance


def prepare(matrix: Matrix, matrix_file: str, matrix_sha256: str, cache: Cache,
            plugins: Plugins | None = None) -> Prepared:
    """Load data, split it (refusing leaks), fingerprint plugins and plan the cells."""
    from benchbench.data.split import load_split

    plugins = plugins or get_plugins()
    data = load_split(matrix, matrix_file, plugins, cache=cache)
    ds_entry, dataset, frames, train, val, test = (data.entry, data.dataset, data.frames, data.train, data.val,
                                                    data.test)
    data_hash = sha256_json({"train": train.manifest_hash(), "test": test.manifest_hash(),
                             "val": val.manifest_hash() if val else None})
    uses_guidance, gives_boxes, gen_ids, instances = {}, {}, {}, {}
    for g in matrix.generators:
        entry = plugins.registry("generators").get(g.plugin_name, field="generators", file=matrix_file)
        gen = instances[g.name] = entry.create(**g.params)
        uses_guidance[g.name] = bool(entry.meta.get("uses_guidance", True))
        gives_boxes[g.name] = bool(entry.meta.get("gives_boxes", False))
        gen_ids[g.name] = {"plugin": entry.name, "version": getattr(gen, "version", entry.version),
                           "fingerprint": gen.fingerprint(), "params": g.params}
        if matrix.synthetic_ratios and not gives_boxes[g.name] and matrix.labeler.kind == "generator":
            raise UserError(f"generator '{g.name}' gives no boxes", file=matrix_file, field="labeler",
                            fix="use labeler: teacher")
    used = matrix.used_generators()
    provenance = generator_provenance(matrix, matrix_file, plugins, test, used, instances)
    needs_teacher = any(not gives_boxes[g] for g in used) and bool(matrix.synthetic_ratios)
    for i, det in enumerate(matrix.detectors):
        taught = [g.name for g in matrix.generators if g.name in used and not gives_boxes[g.name]
                  and matrix.trains_with(det, g.name)]
        if taught and matrix.labeler.kind == "teacher" and det.ratios is not None and 0 not in det.ratios:
            raise UserError(f"detector '{det.name}' trains with {', '.join(taught)} (no boxes), whose frames its "
                            "real-only model labels, but its ratios leave out 0", file=matrix_file,
                            field=f"detectors[{i}].ratios", fix="add 0 to its ratios")
    if needs_teacher and 0 not in matrix.axes.synthetic_ratio:
        matrix = matrix.model_copy(deep=True)
        matrix.axes.synthetic_ratio = [0.0, *matrix.axes.synthetic_ratio]
    step_budget = {}
    if "steps" in matrix.axes.budget:
        for d in matrix.detectors:
            det = plugins.registry("detectors").get(d.plugin_name, field="detectors", file=matrix_file)
            step_budget[d.name] = bool(getattr(det.create(**d.params), "trains_by_steps", False))
    plan = make_plan(matrix, uses_guidance, len(train.positives()), len(train.negatives()), step_budget)
    if needs_teacher and len(matrix.axes.synthetic_ratio) and matrix.axes.synthetic_ratio[0] == 0:
        plan.notes.append("teacher labeler: ratio-0 baselines label the synthetic cracked frames")
    unused = [g.name for g in matrix.generators if g.name not in used]
    if unused and matrix.synthetic_ratios:
        plan.notes.append(f"no detector row trains with generator(s) {', '.join(unused)}: they are skipped")
    info = {"dataset": ds_entry.name, "plugin": ds_entry.plugin, "fingerprint": dataset.fingerprint(),
            "params": matrix.data.params, "n_frames": len(frames), "n_train": len(train),
            "n_val": len(val) if val else 0, "n_test": len(test),
            "train_groups": train.groups(), "test_groups": test.groups(), "manifest_hash": data_hash}
    return Prepared(matrix, matrix_file, matrix_sha256, train, val, test, plan, data_hash, gen_ids,
                    gives_boxes, info, provenance)


def generator_provenance(matrix: Matrix, matrix_file: str, plugins: Plugins, test: FrameSet, used: set[str],
                         instances: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Each used generator's training provenance; a user error when it trained on the test specimens.

    ``instances`` are the generators already built, by row name (the others are built here).
    """
    from benchbench.provenance import check_against_test

    out = {}
    for i, g in enumerate(matrix.generators):
        if g.name not in used:
            continue
        gen = (instances or {}).get(g.name) or plugins.registry("generators").get(g.plugin_name).create(**g.params)
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
        "metrics": p.matrix.metrics.model_dump(), "labeler": p.matrix.labeler.model_dump(),
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
        self.label_errors: dict[tuple[str, str], str] = {}
        self.started = ""

    # -- helpers
    def _executor(self):
        m = self.p.matrix
        name = self.opt.executor or m.executor.name
        opts = {**m.executor.params, **self.opt.executor_options}
        entry = self.plugins.registry("executors").get(name, field="executor", file=self.p.matrix_file)
        self._executor_in_use = entry.create(**opts)
        return self._executor_in_use

    def _row(self, kind: str, name: str):
        rows = self.p.matrix.detectors if kind == "detectors" else self.p.matrix.generators
        return next(r for r in rows if r.name == name)

    def _entry(self, kind: str, name: str):
        return self.plugins.registry(kind).get(self._row(kind, name).plugin_name)

    @functools.cached_property
    def _code(self) -> dict[str, str]:
        return editable_code(self.plugins.info.values())

    def _spec(self, kind: str, name: str) -> dict[str, Any]:
        row = self._row(kind, name)
        return {"name": row.name, "plugin": row.plugin_name, **row.params}

    def _timeout(self, kind: str, name: str) -> float | None:
        return self.p.matrix.timeout_of(self._row(kind, name))

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

        need_gen = {c.gen_task_id for c in pending if c.generator}
        tasks = [t for t in plan.gen_tasks if t.id in need_gen and t.n > 0]
        generated = self._generate(executor, tasks)

        baselines = [c for c in pending if c.baseline]
        self._run_cells(executor, baselines, keys, generated={})
        rest = [c for c in pending if not c.baseline]
        labels = self._teacher_labels(executor, [c for c in rest if c.generator], generated, keys)
        self._run_cells(executor, rest, keys, generated=generated, labels=labels)

        results = self._write_results(started, datetime.now(UTC).isoformat())
        results = attach_scores(self, results)  # generator scores; never raises (benchbench.genscore)
        try:
            self._samples(generated)
        except Exception as exc:  # a picture must never cost a finished run
            self.observer_errors.append(f"sample grid not written: {type(exc).__name__}: {exc}")
        failed = [cid for cid, r in self.results.items() if r.get("status") != "ok"]
        self.observer_errors += self.cache.problems
        return RunSummary(self.store.root, results, failed, self.observer_errors)

    def _frame(self, path: str):
        """A cached synthetic frame, read once per run (many cells share the same prefixes)."""
        if path not in self._frames:
            self._frames[path] = self.cache.get_frame_by_path(path)
        return self._frames[path]

    def _write_test_set(self) -> None:
        """The held-out ground truth (COCO + groups), so runs can be re-scored and compared later."""
        from benchbench.data.export import to_coco_dict
        from benchbench.store import atomic_write_json

        gt = to_coco_dict(self.p.test)
        gt["groups"] = [f.group for f in self.p.test]
        atomic_write_json(self.store.root / "test_gt.json", gt)

    def _generate(self, executor, tasks: list[GenTask]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        jobs = [GenJob(t, self._spec("generators", t.generator), self.p.gen_ids[t.generator],
                       self.opt.cache_dir, self.store.work_dir(f"gen__{t.id}"), self._frame_size(),
                       timeout=self._timeout("generators", t.generator))
                for t in tasks]
        errors: dict[str, str] = {}

        def done(i: int, res: Any) -> None:
            self._unit_done(jobs[i].unit)
            if isinstance(res, BaseException):
                errors[tasks[i].id] = error_line(res)
                return
            out[res["id"]] = res
            self.observer_errors += res.get("cache_problems", [])
            for k in ("generated", "cached", "seconds"):
                self.gen_stats[k] += res[k]

        if jobs:
            executor.map(run_generation_job, jobs, done, progress=self._tick)
        self.gen_errors = errors
        return out

    def _frame_size(self) -> int:
        sizes = [max(f.width, f.height) for f in self.p.train]
        return int(np.median(sizes)) if sizes else 128

    def _synthetic_for(self, cell: Cell, generated: dict[str, dict[str, Any]],
                       labels: dict[tuple[str, str], Any] | None) -> tuple[FrameSet, dict[str, int]]:
        gen = generated[cell.gen_task_id]  # type: ignore[index]
        pos = [self._frame(p) for p in gen["frames"].get("crack", [])[:cell.n_syn_pos]]
        neg = [self._frame(p) for p in gen["frames"].get("sane", [])[:cell.n_syn_neg]]
        dropped = 0
        if not self.p.gives_boxes[cell.generator]:  # type: ignore[index]
            lab = (labels or {}).get((cell.baseline_id, cell.gen_task_id))  # type: ignore[arg-type]
            if lab is None:
                why = self.label_errors.get((cell.baseline_id, cell.gen_task_id),  # type: ignore[arg-type]
                                            f"baseline {cell.baseline_id} failed?")
                raise RuntimeError(f"teacher labels missing ({why})")
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

    def _teacher_labels(self, executor, cells: list[Cell], generated, keys) -> dict[tuple[str, str], Any]:
        wanted: dict[tuple[str, str], LabelJob] = {}
        for c in cells:
            if self.p.gives_boxes.get(c.generator, True) or c.gen_task_id not in generated:  # type: ignore[arg-type]
                continue
            pair = (c.baseline_id, c.gen_task_id)
            if pair in wanted:
                continue
            base = self.results.get(c.baseline_id)
            if not base or base.get("status") != "ok":
                continue
            paths = generated[c.gen_task_id]["frames"].get("crack", [])  # type: ignore[index]
            frames = FrameSet([self._frame(p) for p in paths], "synthetic")
            key = sha256_json({"teacher": keys[c.baseline_id], "frames": paths})
            wanted[pair] = LabelJob(self._spec("detectors", c.detector), c.baseline_id, c.seed, frames, key,
                                    self.store.work_dir(c.baseline_id), self.opt.cache_dir,
                                    timeout=self._timeout("detectors", c.detector))
        pairs = list(wanted)
        out: dict[tuple[str, str], Any] = {}

        def done(i: int, res: Any) -> None:
            self._unit_done(wanted[pairs[i]].unit)
            if isinstance(res, BaseException):
                self.label_errors[pairs[i]] = error_line(res)
            else:
                out[pairs[i]] = res
                self.observer_errors += res.get("cache_problems", [])

        if pairs:
            executor.map(run_label_job, [wanted[p] for p in pairs], done, progress=self._tick)
        return out

    def _run_cells(self, executor, cells: list[Cell], keys: dict[str, str], generated, labels=None) -> None:
        jobs, failed_early = [], []
        m = self.p.matrix
        metrics = m.metrics.eval_kwargs()
        for c in cells:
            extra: dict[str, Any] = {"labeler": m.labeler.model_dump(), "mode": m.mode,
                                     "run": {"name": m.name, "dir": str(self.store.root),
                                             "leaderboard": m.leaderboard}}
            counts = {"real_train_pos": c.n_real_pos, "real_train_neg": c.n_real_neg,
                      "test": len(self.p.test), "test_pos": len(self.p.test.positives())}
            try:
                real = self._real_train(c)
                train = real
                if c.generator is not None:
                    if c.gen_task_id not in generated:
                        err = self.gen_errors.get(c.gen_task_id, "generation did not run")  # type: ignore[arg-type]
                        raise RuntimeError(f"generation failed: {err}")
                    syn, syn_counts = self._synthetic_for(c, generated, labels)
                    counts |= syn_counts
                    train = real + syn
                    extra["generator"] = {"name": c.generator, **self.p.gen_ids[c.generator]}  # type: ignore[index]
            except Exception as exc:
                failed_early.append(self._failed(c, keys[c.id], exc, counts | {}, extra))
                continue
            extra["counts"] = counts
            jobs.append(CellJob(c, keys[c.id], self._spec("detectors", c.detector), train, self.p.val,
                                self.p.test, self.store.work_dir(c.id), self.opt.cache_dir, metrics, extra,
                                timeout=self._timeout("detectors", c.detector)))
        for res in failed_early:
            self._finish(res)

        def done(i: int, res: Any) -> None:
            if isinstance(res, BaseException):
                res = self._failed(jobs[i].cell, jobs[i].key, res, jobs[i].extra.get("counts", {}), jobs[i].extra)
            self._finish(res)

        if jobs:
            executor.map(run_cell_job, jobs, done, progress=self._tick)

    def _failed(self, c: Cell, key: str, exc: BaseException, counts, extra) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        return {"schema_version": SCHEMA_VERSION, "id": c.id, "key": key, "cell": c.to_dict(),
                "status": "failed", "error": error_line(exc), **extra,
                "counts": counts, "timings": {}, "started": now, "finished": now}

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
                "python": sys.version.split()[0], "platform": platform.platform(),
                "machine": platform.machine(), "seeds": m.seed, "started": started, "finished": finished,
                "complete": finished is not None and len(cells) == len(order),
                "data": self.p.dataset_info,
                "generation": {"planned_frames": self.p.plan.planned_frames,
                               "naive_frames": self.p.plan.naive_frames, **self.gen_stats},
                "plan_notes": self.p.plan.notes,
                "generator_provenance": self.p.provenance,
                "warnings": [p["warning"] for p in self.p.provenance.values() if p.get("warning")],
                "metric_directions": DIRECTIONS | {iou_metric_name(t): True for t in m.metrics.iou_thresholds},
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
