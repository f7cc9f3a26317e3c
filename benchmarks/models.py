"""Item 6: CPU throughput of the plugins' tiny configurations, as a reference table for users.

Detectors: images/s for fit (training images x epochs / fit seconds, set-up included) and
predict (second call, model loaded); reference: core's numpy ``classic`` detector on the same
frames. Generators: frames/s (second call, pipeline loaded); reference: the physics simulator at
the same size. Tiny configs, a handful of 64-px frames: seconds, not minutes. A plugin that is not
installed or not importable yet is skipped with the reason; one that fails is recorded and the
others still run. No targets: these figures are informational.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.core import BenchResult, Figure

NAME = "models"
SIZE = 64
EPOCHS = 1


@dataclass(frozen=True)
class Case:
    plugin: str
    config: str  # the tiny configuration, as a user would write it
    build: Callable[[Path], Any]  # makes the detector / generator (tiny weights into the given folder)


def _yolo(tmp: Path) -> Any:
    from benchbench_yolo.detector import YoloDetector

    return YoloDetector(model="yolov8n.yaml", width=0.125, imgsz=SIZE, batch=8, epochs=EPOCHS,
                        train_args={"mosaic": 0.0, "warmup_epochs": 0.0})


def _detr(tmp: Path) -> Any:
    from benchbench_detr.detector import DetrDetector

    return DetrDetector(epochs=EPOCHS, imgsz=SIZE, batch=8, num_queries=10)


def _classic(tmp: Path) -> Any:
    from benchbench.builtins.classic import ClassicDetector

    return ClassicDetector()


def _sd(tmp: Path) -> Any:
    from benchbench_sd.generator import StableDiffusionGenerator
    from benchbench_sd.tiny import build_tiny_sd

    return StableDiffusionGenerator(weights=build_tiny_sd(tmp / "sd", size=SIZE), steps=10, batch=4)


def _ddpm(tmp: Path) -> Any:
    from benchbench_ddpm.generator import DdpmGenerator
    from benchbench_ddpm.tiny import build_tiny_ddpm

    return DdpmGenerator(weights=build_tiny_ddpm(tmp / "ddpm", size=32), sampler="ddim", steps=10, batch=4)


def _physics(tmp: Path) -> Any:
    from benchbench.builtins.physics import PhysicsGenerator

    return PhysicsGenerator()


DETECTORS = (Case("yolo", f"yolov8n.yaml width 0.125, imgsz {SIZE}, batch 8, {EPOCHS} epoch, no mosaic", _yolo),
             Case("detr", f"rt-detr tiny, imgsz {SIZE}, batch 8, 10 queries, {EPOCHS} epoch", _detr))
DETECTOR_REFERENCE = Case("classic", "defaults", _classic)
GENERATORS = (Case("sd", f"tiny random SD pipeline, {SIZE} px, 10 steps, batch 4", _sd),
              Case("ddpm", "tiny random DDPM pipelines, 32 px, ddim 10 steps, batch 4", _ddpm))
GENERATOR_REFERENCE = Case("physics", f"simulator, {SIZE} px", _physics)


def _ctx(tmp: Path, name: str):
    from benchbench.api import CellContext

    work = tmp / "work" / name
    work.mkdir(parents=True, exist_ok=True)
    return CellContext(cell_id=name, seed=0, work_dir=work, cache_dir=tmp / "cache", quiet=True)


def detector_rates(case: Case, tmp: Path, train, test) -> dict[str, float]:
    from benchbench.api import seed_everything

    seed_everything(0)
    det, ctx = case.build(tmp), _ctx(tmp, case.plugin)
    t = time.perf_counter()
    det.fit(train, None, ctx)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    det.predict(test, ctx)  # first call loads the model
    cold_s = time.perf_counter() - t
    t = time.perf_counter()
    det.predict(test, ctx)
    warm_s = time.perf_counter() - t
    epochs = getattr(det, "epochs", None) or EPOCHS
    return {"fit": len(train) * epochs / fit_s, "predict": len(test) / warm_s, "fit_s": fit_s,
            "predict_cold_s": cold_s, "predict_warm_s": warm_s}


def generator_rate(case: Case, tmp: Path, n: int) -> dict[str, float]:
    from benchbench.api import GenerationRequest, seed_everything

    seed_everything(0)
    gen, ctx = case.build(tmp), _ctx(tmp, case.plugin)
    t = time.perf_counter()
    gen.generate(GenerationRequest("crack", 1, 7.5, 0, SIZE, 0), ctx)  # loads the pipeline
    cold_s = time.perf_counter() - t
    t = time.perf_counter()
    frames = gen.generate(GenerationRequest("crack", n, 7.5, 0, SIZE, 1), ctx)
    warm_s = time.perf_counter() - t
    if len(frames) != n:
        raise RuntimeError(f"asked for {n} frames, got {len(frames)}")
    return {"generate": n / warm_s, "generate_s": warm_s, "first_frame_s": cold_s}


def _attempt(fn: Callable[[], dict[str, float]]) -> tuple[dict[str, float] | None, str | None]:
    try:
        return fn(), None
    except ImportError as exc:
        return None, f"not installed / not importable yet: {exc}"
    except Exception as exc:  # a broken plugin is reported, the table goes on
        return None, f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"


def run(quick: bool = False, profile: bool = True) -> BenchResult:
    from benchbench.data.simulate import simulate_frames

    res = BenchResult(NAME)
    res.notes.append(_torch_note())
    n_train, n_test, n_gen = (8, 8, 2) if quick else (16, 16, 4)
    train, test = simulate_frames(n_train, 0, size=SIZE), simulate_frames(n_test, 1, size=SIZE)
    tmp = Path(tempfile.mkdtemp(prefix="benchbench-models-"))
    try:
        ref, err = _attempt(lambda: detector_rates(DETECTOR_REFERENCE, tmp, train, test))
        if ref is None:
            raise RuntimeError(f"reference detector classic {err}")
        for case in DETECTORS:
            rates, why = _attempt(lambda case=case: detector_rates(case, tmp, train, test))
            for phase, n in (("fit", n_train), ("predict", n_test)):
                res.add(Figure(NAME, f"{case.plugin} {phase} ({n} x {SIZE} px)", rates and rates[phase], "images/s",
                               f"classic {phase}", ref[phase], higher_is_better=True, skipped=why,
                               details={"config": case.config, **(rates or {})}))
        gref, err = _attempt(lambda: generator_rate(GENERATOR_REFERENCE, tmp, n_gen))
        if gref is None:
            raise RuntimeError(f"reference generator physics {err}")
        for case in GENERATORS:
            rates, why = _attempt(lambda case=case: generator_rate(case, tmp, n_gen))
            res.add(Figure(NAME, f"{case.plugin} generate ({n_gen} frames)", rates and rates["generate"],
                           "frames/s", f"physics simulator at {SIZE} px", gref["generate"], higher_is_better=True,
                           skipped=why, details={"config": case.config, **(rates or {})}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.notes.append("fit images/s = training images x epochs / fit seconds, set-up included (export, trainer, "
                     "checkpoint conversion): with a tiny config and 1 epoch the set-up dominates")
    return res


def _torch_note() -> str:
    try:
        import torch
    except ImportError:
        return "torch not installed: every plugin figure is skipped"
    return f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads at start"
