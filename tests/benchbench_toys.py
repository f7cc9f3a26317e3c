"""Toy plugins for the harness tests: tiny, deterministic, genuinely data-driven.

Loaded in-process with ``plugins.register`` or, for worker processes, via
``BENCHBENCH_PLUGIN_MODULES=benchbench_toys``.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchbench.api import Box, CellContext, Frame, FrameSet, GenerationRequest, sha256_json
from benchbench.hookspecs import hookimpl

__version__ = "1.0"
BUILT: Counter[str] = Counter()  # objects built in this process, by class (tests count plugin builds)


def draw(rng: np.random.Generator, size: int, crack: bool, contrast: float = 90.0):
    img = rng.normal(40, 8, (size, size)).clip(0, 255)
    box = None
    if crack:
        h = int(rng.integers(size // 3, size // 2))
        x = int(rng.integers(4, size - 6))
        y = int(rng.integers(2, size - h - 2))
        img[y:y + h, x:x + 2] += contrast
        box = Box(float(x), float(y), 2.0, float(h))
    return img.clip(0, 255).astype(np.uint8), box


class ToyDataset:
    name = "toydata"
    version = "1"

    def __init__(self, n: int = 60, size: int = 32, groups: int = 6, seed: int = 0):
        BUILT[type(self).__name__] += 1
        self.n, self.size, self.groups, self.seed = n, size, groups, seed

    def fingerprint(self) -> str:
        return sha256_json(vars(self))

    def load(self) -> FrameSet:
        rng = np.random.default_rng(self.seed)
        frames = []
        for i in range(self.n):
            crack = i % 2 == 0
            img, box = draw(rng, self.size, crack)
            frames.append(Frame(None, self.size, self.size, "crack" if crack else "sane",
                                (box,) if box else (), f"Sample{i % self.groups + 1}", image=img,
                                meta={"name": f"toy-Sample{i % self.groups + 1}-{i:04d}"}))
        return FrameSet(frames, "toy")


class ToyGenerator:
    """Frame i depends on (seed, label, guidance, i) only; boxes optional (to exercise the teacher)."""

    name = "toygen"
    version = "1"

    def __init__(self, size: int = 32, boxes: bool = False, fail: bool = False, weights: str | None = None,
                 negative: str | None = None, positive: str | None = None):
        BUILT[type(self).__name__] += 1
        self.size, self.boxes, self.fail, self.weights = size, boxes, fail, weights
        self.negative, self.positive = negative, positive  # one weights folder per class, as an SD pair

    def fingerprint(self) -> str:
        return sha256_json(vars(self))

    def training_manifest(self) -> dict | None:
        """Like a trained generator: the manifests `bench train` wrote beside its weights, if any."""
        from benchbench.data.provenance import generator_manifest

        return generator_manifest(w for w in (self.weights, self.negative, self.positive) if w)

    def generate(self, req: GenerationRequest, ctx: CellContext) -> list[Frame]:
        if self.fail:
            raise RuntimeError("toy generator asked to fail")
        out = []
        for i in range(req.start_index, req.start_index + req.n):
            rng = np.random.default_rng([req.seed, int(req.label == "crack"), i, int((req.guidance or 0) * 10)])
            img, box = draw(rng, self.size, req.label == "crack", contrast=60 + 4 * (req.guidance or 0))
            boxes = ((box,) if box else ()) if (self.boxes or req.label == "sane") else None
            out.append(Frame(None, self.size, self.size, req.label, boxes, source="synthetic:toygen", image=img,
                             meta={"name": f"toygen-{i}"}))
        return out


class ToyBoxGenerator(ToyGenerator):
    """Same frames, with exact boxes (like the physics simulator)."""

    def __init__(self, size: int = 32, boxes: bool = True, fail: bool = False):
        super().__init__(size, boxes, fail)


class ToyDetector:
    """Learns the typical crack height and a brightness threshold; predicts the brightest column."""

    name = "toydet"
    version = "1"
    trains_by_steps = True

    def __init__(self, fail: bool = False, sleep: float = 0.0, fail_on: str | None = None, epochs: int = 3,
                 wait_for: str | None = None, wait_count: int = 1):
        BUILT[type(self).__name__] += 1
        self.fail, self.sleep, self.fail_on, self.epochs = fail, sleep, fail_on, epochs
        # wait_for: a glob under the run's work folder; fit waits until wait_count files match it (a cell
        # that must outlast others, without guessing how long they take)
        self.wait_for, self.wait_count = wait_for, wait_count
        self.model: dict | None = None

    def params(self) -> dict:
        return {"fail": self.fail, "sleep": self.sleep}

    def fit(self, train: FrameSet, val, ctx: CellContext) -> None:
        if self.fail or (self.fail_on and self.fail_on in ctx.cell_id):
            raise RuntimeError("toy detector asked to fail")
        if self.sleep:
            time.sleep(self.sleep)
        if self.wait_for:
            deadline = time.monotonic() + 300
            while len(list(ctx.work_dir.parent.glob(self.wait_for))) < self.wait_count:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"waited 300 s in vain for {self.wait_count} x {self.wait_for}")
                time.sleep(0.05)
        epochs = ctx.epochs_for(self.epochs, len(train))  # the model is closed-form; the budget is bookkeeping
        per_epoch = -(-len(train) // 8)
        for e in ctx.checkpoints(epochs):  # a learning curve: after e of the epochs, it has learnt from e/epochs
            model = self._learn(train[:: max(1, round(epochs / e))])  # of the frames (all of them at the end)
            ctx.checkpoint(lambda frames, m=model: self._boxes(m, frames), steps=e * per_epoch, epochs=e)
        self.model = self._learn(train)
        ctx.record("toy_n_train", len(train))
        ctx.record_budget(epochs=epochs, steps=epochs * per_epoch, images=epochs * len(train))
        (ctx.work_dir / "toy.json").write_text(json.dumps(self.model))
        with open(ctx.work_dir / "fit_count", "a") as fh:  # lets tests prove cells run exactly once
            fh.write(f"{os.getpid()}\n")

    def _learn(self, train: FrameSet) -> dict:
        heights = [b.h for f in train if f.boxes for b in f.boxes]
        peaks_pos = [self._peak(f.load())[1] for f in train if f.label == "crack" and f.boxes]
        peaks_neg = [self._peak(f.load())[1] for f in train if f.label == "sane"]
        thr = (np.median(peaks_pos) + np.median(peaks_neg)) / 2 if peaks_pos and peaks_neg else 0.0
        return {"h": float(np.median(heights)) if heights else 10.0, "thr": float(thr), "n_train": len(train)}

    @staticmethod
    def _peak(img: np.ndarray) -> tuple[int, float, int]:
        g = img[..., 0].astype(float)
        col = g.mean(axis=0)
        x = int(np.argmax(col))
        y = int(np.argmax(np.convolve(g[:, x] - np.median(g), np.ones(5), "same")))
        return x, float(col[x] - np.median(col)), y

    def predict(self, frames: FrameSet, ctx: CellContext) -> list[list[Box]]:
        if self.model is None:
            self.model = json.loads((ctx.work_dir / "toy.json").read_text())
        return self._boxes(self.model, frames)

    def _boxes(self, model: dict, frames: FrameSet) -> list[list[Box]]:
        out = []
        for f in frames:
            img = f.load()
            x, strength, y = self._peak(img)
            score = float(1 / (1 + np.exp(-(strength - model["thr"]) / 2)))
            h = model["h"]
            top = float(np.clip(y - h / 2, 0, img.shape[0] - h))
            out.append([Box(float(x), top, 2.0, h, score=score)])
        return out


@hookimpl
def benchbench_register_datasets(register):
    register("toydata", ToyDataset)


@hookimpl
def benchbench_register_generators(register):
    register("toygen", ToyGenerator, uses_guidance=True, gives_boxes=False)
    register("toygen-boxes", "benchbench_toys:ToyBoxGenerator", uses_guidance=False, gives_boxes=True)


@hookimpl
def benchbench_register_detectors(register):
    register("toydet", "benchbench_toys:ToyDetector")


@dataclass
class SerialOptions:
    """A third-party executor's options model: a plain dataclass."""

    pause: float = 0.0


class SerialExecutor:
    """An executor as a third party writes one: ``map`` only, in the driver, with its own options."""

    name = "toyserial"

    def __init__(self, pause: float = 0.0):
        self.pause = pause
        self.maps = 0

    def map(self, fn, items, on_result, progress=None):
        self.maps += 1
        for i, item in enumerate(items):
            time.sleep(self.pause)
            try:
                res = fn(item, progress)
            except Exception as exc:
                res = exc
            on_result(i, res)


@hookimpl
def benchbench_register_executors(register):
    register("toyserial", SerialExecutor, options=SerialOptions)


# --------------------------------------------------------------------------- a matrix of these toys
# Both toy generators (tg with guidance, tb with exact boxes), toydet and the teacher labeler;
# ``det`` adds toydet parameters (", sleep: 0.4"), ``extra`` adds top-level keys.
MATRIX = """
name: {name}
seed: {seeds}
data: {{dataset: toydata, n: 60}}
split: {{test_fraction: 0.34}}
generators:
  - {{name: tg, plugin: toygen}}
  - {{name: tb, plugin: toygen-boxes}}
detectors:
  - {{name: det, plugin: toydet{det}}}
axes: {{synthetic_ratio: {ratios}, guidance: [7, 9]}}
metrics: {{bootstrap: {bootstrap}}}
labeler: {{kind: teacher, threshold: 0.3}}
{extra}
"""


def write_matrix(folder: Path, *, name: str, seeds: list[int], ratios: list[float], bootstrap: int,
                 det: str = "", extra: str = "") -> Path:
    """``folder/m.yaml`` holding :data:`MATRIX` with these values."""
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / "m.yaml"
    f.write_text(MATRIX.format(name=name, seeds=seeds, ratios=ratios, bootstrap=bootstrap, det=det, extra=extra))
    return f


def thread_settings(_item, _progress=None) -> tuple[str | None, str | None]:
    """What a worker process was given (executor tests)."""
    import os

    return os.environ.get("OMP_NUM_THREADS"), os.environ.get("MKL_NUM_THREADS")


def reporting_job(item: int, progress=None) -> int:
    """Reports two phases of unit u<item> (executor tests)."""
    if progress is not None:
        progress(f"u{item}", "epoch 1/2", 0.5)
        progress(f"u{item}", "epoch 2/2", 1.0)
    return item
