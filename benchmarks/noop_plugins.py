"""No-op plugins for the harness benchmarks: they do (almost) nothing, so what is timed is the harness.

Loaded with ``BENCHBENCH_PLUGIN_MODULES=benchmarks.noop_plugins`` (repository root on PYTHONPATH).
The detector never reads pixels: it predicts one fixed box per frame, derived from the frame's
size and name, so evaluation still sees real, deterministic, non-trivial predictions.
Each plugin adds the time spent inside it to ``SPENT`` and counts generated frames in
``GENERATED``; the benchmarks subtract that time and check the count against the planner.
"""

from __future__ import annotations

import time
import zlib
from collections import Counter

import numpy as np

from benchbench.api import Box, CellContext, Frame, FrameSet, GenerationRequest, sha256_json
from benchbench.hookspecs import hookimpl

__version__ = "1.0"

SPENT: Counter[str] = Counter()  # seconds inside plugin code, by phase
GENERATED: Counter[str] = Counter()  # frames returned by generate(), by label


def _frame(size: int, label: str, index: int, group: str, source: str, name: str) -> Frame:
    img = np.full((size, size, 3), 40 + index % 7, np.uint8)
    # The index in the first pixels: no two frames are identical (the split refuses duplicates).
    img[0, :4, 0] = np.frombuffer(int(index).to_bytes(4, "little"), np.uint8)
    boxes: tuple[Box, ...] = ()
    if label == "crack":
        x = 2 + index % max(1, size - 6)
        img[2:size - 2, x:x + 2] = 200
        boxes = (Box(float(x), 2.0, 2.0, float(size - 4)),)
    return Frame(None, size, size, label, boxes, group, source, image=img, meta={"name": name})


class NoopDataset:
    name = "noopdata"
    version = __version__

    def __init__(self, n: int = 40, size: int = 16, groups: int = 6):
        self.n, self.size, self.groups = int(n), int(size), int(groups)

    def fingerprint(self) -> str:
        return sha256_json(vars(self))

    def load(self) -> FrameSet:
        frames = [_frame(self.size, "crack" if i % 2 == 0 else "sane", i, f"Sample{i % self.groups + 1}", "real",
                         f"noop-Sample{i % self.groups + 1}-{i:05d}") for i in range(self.n)]
        return FrameSet(frames, "noop")


class NoopGenerator:
    """Frame i of a request depends on (label, guidance, seed, i) only, as the protocol requires."""

    name = "noopgen"
    version = __version__

    def fingerprint(self) -> str:
        return sha256_json({"plugin": self.name, "version": self.version})

    def generate(self, req: GenerationRequest, ctx: CellContext) -> list[Frame]:
        t = time.perf_counter()
        g = int((req.guidance or 0) * 10)
        out = [_frame(req.size, req.label, i + req.seed + g, "synthetic", "synthetic:noopgen",
                      f"noopgen-{req.label}-g{g}-s{req.seed}-{i:05d}")
               for i in range(req.start_index, req.start_index + req.n)]
        GENERATED[req.label] += len(out)
        SPENT["generate"] += time.perf_counter() - t
        return out


class NoopDetector:
    name = "noopdet"
    version = __version__

    def __init__(self, sleep: float = 0.0):
        self.sleep = float(sleep)  # seconds fit takes: a long or short cell that costs no CPU

    def params(self) -> dict[str, object]:
        return {"sleep": self.sleep} if self.sleep else {}

    def fit(self, train: FrameSet, val: FrameSet | None, ctx: CellContext) -> None:
        # Nothing to learn (the box rule is fixed); recording the size lets the benchmark check
        # that the harness handed over the planned training set.
        t = time.perf_counter()
        ctx.record("n_train", len(train))
        time.sleep(self.sleep)
        SPENT["fit"] += time.perf_counter() - t

    def predict(self, frames: FrameSet, ctx: CellContext) -> list[list[Box]]:
        t = time.perf_counter()
        out = [[self.box(f)] for f in frames]
        SPENT["predict"] += time.perf_counter() - t
        return out

    @staticmethod
    def box(frame: Frame) -> Box:
        """A fixed box from the frame's size; its score from the frame's name (stable across runs)."""
        score = (zlib.crc32(frame.stem.encode()) % 1000) / 1000
        return Box(frame.width / 4, 2.0, 2.0, frame.height - 4.0, score=score)


@hookimpl
def benchbench_register_datasets(register):
    register("noopdata", NoopDataset)


@hookimpl
def benchbench_register_generators(register):
    register("noopgen", NoopGenerator, uses_guidance=True, gives_boxes=True)


@hookimpl
def benchbench_register_detectors(register):
    register("noopdet", NoopDetector)
