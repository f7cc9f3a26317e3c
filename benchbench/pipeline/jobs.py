"""Jobs a worker runs: generate frames, pseudo-label them, fit/predict/evaluate one cell.

Each job is a picklable dataclass and each function is module-level, so any executor
(in-process, process pool, Ray, SLURM) can run it; plugins are loaded in the worker. A job
carries its plugin as a :class:`PluginRef` (row name, plugin, parameters); a worker builds a
generator once per process, and a detector once per cell (its fitted model is the cell's).
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchbench.drawing.gallery import write_gallery
from benchbench.environment import worker_facts
from benchbench.errors import DiskFull, error_line, is_disk_full
from benchbench.frames import Box, Frame, FrameSet
from benchbench.hashing import file_sha256
from benchbench.isolation import in_launch_dir, in_work_dir
from benchbench.method.curves import CurveRecorder
from benchbench.method.evaluation import drop_degenerate, evaluate_predictions, predictions_to_coco
from benchbench.method.teacher import top_scores
from benchbench.pipeline.calibration import crop_size, resize_frame
from benchbench.pipeline.planner import Cell, GenTask, label_id
from benchbench.plugins import PluginRef, get_plugins
from benchbench.protocols import CellContext, GenerationRequest
from benchbench.records.cache import Cache, frame_key
from benchbench.records.store import SCHEMA_VERSION, atomic_write_json, ground_truth_file
from benchbench.seeding import seed_everything

Progress = Callable[[str, str, float | None], None]  # (unit id, phase, fraction)


class DependencyFailed(RuntimeError):
    """A job could not start: a job it needs (generation, a teacher baseline, its labels) failed."""


@dataclass
class GenJob:
    task: GenTask
    generator: PluginRef
    generator_id: dict[str, Any]
    cache_dir: Path
    work_dir: Path
    size: int
    group: str = "synthetic"
    timeout: float | None = None  # seconds; the executor kills the job past it
    calibration: dict[str, Any] | None = None  # the generator's calibration on the fold (pipeline.calibration)

    @property
    def unit(self) -> str:  # its name in progress reports
        return self.task.id


@dataclass
class LabelJob:
    detector: PluginRef
    baseline_id: str
    seed: int
    frames: FrameSet
    key: str
    work_dir: Path
    cache_dir: Path
    timeout: float | None = None
    reference: FrameSet | None = None  # the teacher's real training frames: its score scale (benchbench.method.teacher)
    task_id: str = ""  # the generation task whose frames it labels: one baseline labels several sets

    @property
    def unit(self) -> str:
        return label_id(self.baseline_id, self.task_id)


@dataclass
class CellJob:
    cell: Cell
    key: str
    detector: PluginRef
    train: FrameSet
    val: FrameSet | None
    test: FrameSet
    work_dir: Path
    cache_dir: Path
    metrics: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    curve: tuple[float, ...] = ()  # matrix metrics.curve: score the test frames at these shares of training

    @property
    def unit(self) -> str:
        return self.cell.id


def _fresh(ref: PluginRef) -> Any:
    """A new object for one cell: a detector's fitted state must not leak into another cell."""
    with in_launch_dir():
        return get_plugins().registry(ref.kind).get(ref.plugin).create(**ref.params)


def cell_record(cell: Cell, key: str, extra: dict[str, Any], *, error: BaseException | None = None,
                started: str | None = None) -> dict[str, Any]:
    """A cell's result record: ``failed`` with ``error``'s line, or the skeleton a running cell fills in.

    The one place a record is made, whether the cell ran, its worker died, or it could not start.
    """
    now = datetime.now(UTC).isoformat()
    return {"schema_version": SCHEMA_VERSION, "id": cell.id, "key": key, "cell": cell.to_dict(),
            "status": "failed", "error": None if error is None else error_line(error), **extra,
            "counts": extra.get("counts", {}), "timings": {}, "started": started or now, "finished": now}


def _ctx(unit: str, seed: int, work_dir: Path, cache_dir: Path, progress: Progress | None) -> CellContext:
    # "auto": CUDA where the worker has a GPU (Ray/SLURM nodes), else CPU; plugins resolve it.
    ctx = CellContext(cell_id=unit, seed=seed, work_dir=Path(work_dir), cache_dir=Path(cache_dir),
                      device=os.environ.get("BENCHBENCH_DEVICE", "auto"))
    if progress is not None:
        ctx.progress = lambda phase, frac: progress(unit, phase, frac)
    return ctx


@in_work_dir
def run_generation_job(job: GenJob, progress: Progress | None = None) -> dict[str, Any]:
    """Generate (or take from cache) the frames of one (generator, guidance, seed)."""
    cache = Cache(job.cache_dir)
    t = job.task
    with in_launch_dir():
        gen = get_plugins().instance(job.generator)  # generation keeps no state between requests
    seed_everything(t.seed)
    ctx = _ctx(job.unit, t.seed, job.work_dir, job.cache_dir, progress)
    out: dict[str, Any] = {"id": t.id, "generated": 0, "cached": 0, "frames": {}, "seconds": 0.0}
    sizes = (job.calibration or {}).get("crop_sizes")  # real crop sizes: calibrated, or resize: real
    start = time.perf_counter()
    for label, n in (("crack", t.n_pos), ("sane", t.n_neg)):
        keys = [frame_key(job.generator_id, label, t.guidance, t.seed, i, job.size) for i in range(n)]
        frames: list[Frame | None] = [cache.get_frame(k) for k in keys]
        missing = [i for i, f in enumerate(frames) if f is None]
        out["cached"] += n - len(missing)
        for lo, hi in _runs(missing):
            ctx.report(f"generate {label} {lo}..{hi - 1}", len(missing) and lo / max(n, 1))
            req = GenerationRequest(label=label, n=hi - lo, guidance=t.guidance, seed=t.seed,  # type: ignore[arg-type]
                                    size=job.size, start_index=lo, prompt=None, calibration=job.calibration)
            made = gen.generate(req, ctx)
            if len(made) != hi - lo:
                raise RuntimeError(f"generator returned {len(made)} frames, asked for {hi - lo}")
            for i, f in zip(range(lo, hi), made, strict=True):
                if f.label != label:
                    raise RuntimeError(f"generator returned a '{f.label}' frame for a '{label}' request")
                if sizes:
                    f = resize_frame(f, crop_size(sizes, t.seed, label, i))
                keep = {"mask": f.meta["mask"]} if "mask" in f.meta else {}  # labeler: mask reads it
                f = Frame(None, f.width, f.height, f.label, f.boxes, job.group, f.source, image=f.image,
                          meta={"name": f"{t.id}-{label}-{i:06d}", **keep})
                frames[i] = cache.put_frame(keys[i], f)
            out["generated"] += hi - lo
        out["frames"][label] = [str(f.path) for f in frames if f is not None]
    out["seconds"] = time.perf_counter() - start
    out["cache_problems"] = cache.problems
    return out


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Contiguous [lo, hi) runs of sorted indices."""
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


@in_work_dir
def run_label_job(job: LabelJob, progress: Progress | None = None) -> dict[str, Any]:
    """Pseudo-label synthetic cracked frames with the real-only baseline model (the teacher)."""
    cache = Cache(job.cache_dir)
    hit = cache.get_json("labels", job.key)
    if isinstance(hit, dict) and isinstance(hit.get("boxes"), list) and len(hit["boxes"]) == len(job.frames) \
            and isinstance(hit.get("reference"), dict):
        return {**hit, "key": job.key}
    if hit is not None:
        cache.problems.append(f"cache: {Path(job.cache_dir) / 'labels' / job.key}.json does not hold labels "
                              "for these frames: recomputed")
    det = _fresh(job.detector)
    seed_everything(job.seed)
    ctx = _ctx(job.unit, job.seed, job.work_dir, job.cache_dir, progress)
    ctx.report("teacher labels", None)
    preds = det.predict(job.frames.without_truth(), ctx)
    labels: dict[str, Any] = {"boxes": [[b.to_dict() for b in boxes] for boxes in preds], "reference": {}}
    if job.reference is not None:
        ctx.report("teacher reference", None)
        for label, frames in (("crack", job.reference.positives()), ("sane", job.reference.negatives())):
            labels["reference"][label] = top_scores(det.predict(frames.without_truth(), ctx)) if len(frames) else []
    cache.put_json("labels", job.key, labels)
    return {**labels, "key": job.key, "cache_problems": cache.problems}  # the key: where --archive keeps them


@in_work_dir
def run_cell_job(job: CellJob, progress: Progress | None = None) -> dict[str, Any]:
    """Fit, predict, evaluate one cell. Never raises: a failure is a result with status 'failed'."""
    cell = job.cell
    timings: dict[str, float] = {}
    ctx = _ctx(job.unit, cell.seed, job.work_dir, job.cache_dir, progress)
    ctx.budget_frames = cell.budget_frames
    curve = CurveRecorder(job.test, job.metrics, job.work_dir, cell.id).attach(ctx, job.curve) if job.curve else None
    result = cell_record(cell, job.key, job.extra)
    warnings: list[str] = []
    t0 = time.perf_counter()
    try:
        seed_everything(cell.seed)
        det = _fresh(job.detector)
        result["detector"] = {"name": job.detector.name, "plugin": getattr(det, "name", "?"),
                              "version": getattr(det, "version", "?"),
                              "params": det.params() if hasattr(det, "params") else {}}
        ctx.report("fit", 0.0)
        t = time.perf_counter()
        det.fit(job.train, job.val, ctx)
        timings["fit"] = time.perf_counter() - t
        ctx.report("predict", None)
        t = time.perf_counter()
        # the truth stays here, for the evaluator
        preds = _with_area(det.predict(job.test.without_truth(), ctx), "test", warnings)
        timings["predict"] = time.perf_counter() - t
        val_preds = None
        if job.val:  # the operating threshold is chosen on validation frames, never on test
            t = time.perf_counter()
            val_preds = _with_area(det.predict(job.val.without_truth(), ctx), "validation", warnings)
            timings["predict_val"] = time.perf_counter() - t
        # checksums: `bench rescore` scores only the predictions this cell wrote
        result["checksums"] = {"predictions": _write_predictions(Path(job.work_dir) / "predictions.json", preds)}
        result["artifacts"] = {"predictions": f"work/{cell.id}/predictions.json",
                               "ground_truth": ground_truth_file(cell.fold)}
        if val_preds is not None:  # `bench rescore` chooses the operating threshold again from these
            result["checksums"]["predictions_val"] = _write_predictions(
                Path(job.work_dir) / "predictions_val.json", val_preds)
            result["artifacts"]["predictions_val"] = f"work/{cell.id}/predictions_val.json"
        ctx.report("evaluate", None)
        t = time.perf_counter()
        result["metrics"] = evaluate_predictions(job.test, preds, val=job.val, val_preds=val_preds, **job.metrics)
        timings["evaluate"] = time.perf_counter() - t
        problem = write_gallery(job.test, preds, result, job.work_dir)
        if problem:
            ctx.record("gallery_error", problem)
            warnings.append(f"worst-frames gallery not drawn: {problem}")
        result["status"] = "ok"
    except BaseException as exc:  # a failing plugin fails its cell only, even one calling sys.exit()
        if isinstance(exc, KeyboardInterrupt) and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            raise  # a real Ctrl-C can reach this process (local workers ignore SIGINT: theirs are a plugin's)
        if is_disk_full(exc):  # not this cell's failure: the run stops (runner.stop_if_disk_full)
            raise exc if isinstance(exc, DiskFull) else DiskFull(job.work_dir) from None
        result["error"] = error_line(exc)
        (Path(job.work_dir) / "error.txt").write_text(traceback.format_exc())
    timings["total"] = time.perf_counter() - t0
    if curve is not None:  # [] when the detector never checkpoints; fit's timing includes these seconds
        result["curve"], timings["curve"] = curve.points, curve.seconds
    result["timings"] = timings
    result["budget"] = {"mode": cell.budget, "reference_frames": cell.budget_frames,
                        "train_frames": len(job.train), **ctx.info.pop("budget", {})}
    result["info"] = ctx.info
    result["runtime"] = worker_facts()
    if warnings:  # the driver prints them at the end of the run, not only into results.json
        result["warnings"] = warnings
    result["finished"] = datetime.now(UTC).isoformat()
    return result


def _with_area(preds: list[list[Box]], which: str, warnings: list[str]) -> list[list[Box]]:
    kept, dropped = drop_degenerate(preds)
    if dropped:
        warnings.append(f"{dropped} zero-area box(es) from predict on the {which} frames dropped "
                        "(w or h is 0: such a box matches no crack)")
    return kept


def _write_predictions(path: Path, preds: list[list[Box]]) -> str:
    """Write the predictions; their file's sha256."""
    # not fsynced: the cell file written after it is, and a lost prediction file only costs a re-run
    atomic_write_json(path, predictions_to_coco(preds), durable=False)
    return file_sha256(path)
