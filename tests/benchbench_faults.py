"""Broken toy plugins for the fault-injection tests: each misbehaves in one chosen way.

Load with ``BENCHBENCH_PLUGIN_MODULES=benchbench_toys,benchbench_faults``. ``faultdet`` is the toy
detector (same fit, same predictions) until the phase named by ``when`` of a cell whose id
contains ``only``; there it does ``fault``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from benchbench_toys import ToyDetector, ToyGenerator

from benchbench.api import Box
from benchbench.hookspecs import hookimpl

__version__ = "1.0"

def misbehave(fault: str, work_dir) -> None:
    """Do ``fault`` now (the box faults are done by predict itself)."""
    (work_dir / "pid").write_text(str(os.getpid()))  # lets tests check that the process is gone
    if fault == "raise":
        raise RuntimeError("faultdet raised on purpose")
    if fault == "exit":
        sys.exit(3)
    if fault == "exit0":
        sys.exit()
    if fault == "os_exit":
        os._exit(7)
    if fault == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(10)  # the signal is delivered asynchronously
    if fault == "interrupt":
        raise KeyboardInterrupt
    if fault == "hang":
        time.sleep(600)


class FaultDetector(ToyDetector):
    name = "faultdet"

    def __init__(self, fault: str = "raise", only: str = "", when: str = "fit", sleep: float = 0.0):
        super().__init__(sleep=sleep)
        self.fault, self.only, self.when = fault, only, when

    def params(self) -> dict:
        return {"fault": self.fault, "only": self.only, "when": self.when}

    def fit(self, train, val, ctx) -> None:
        (ctx.work_dir / "pid").write_text(str(os.getpid()))  # "a job is running", and where
        if self.when == "fit" and self.only in ctx.cell_id:
            misbehave(self.fault, ctx.work_dir)
        super().fit(train, val, ctx)

    def predict(self, frames, ctx) -> list[list[Box]]:
        out = super().predict(frames, ctx)
        if self.only not in ctx.cell_id:
            return out
        if self.when == "predict":
            misbehave(self.fault, ctx.work_dir)
        bad = {"neg_box": Box(1.0, 1.0, -2.0, 4.0), "str_box": Box("1", 1.0, 2.0, 4.0),  # type: ignore[arg-type]
               "score": Box(1.0, 1.0, 2.0, 4.0, score=1.5)}.get(self.fault)
        return [[*boxes, bad] for boxes in out] if bad else out


class ProbeDetector(ToyDetector):
    """The toy detector, which writes down what each ``predict`` call was handed (``seen.jsonl``)."""

    name = "probedet"

    def predict(self, frames, ctx) -> list[list[Box]]:
        seen = {"n": len(frames), "boxes": sum(f.boxes is not None for f in frames),
                "labels": sorted({str(f.label) for f in frames}), "sources": sorted({f.source for f in frames}),
                "meta": sum(bool(f.meta) for f in frames), "pixels": sum(f.load().size > 0 for f in frames),
                "groups": sorted({f.group for f in frames})}
        with open(ctx.work_dir / "seen.jsonl", "a") as fh:
            fh.write(json.dumps(seen) + "\n")
        return super().predict(frames, ctx)


class FaultGenerator(ToyGenerator):
    """The toy generator with exact boxes, which does ``fault`` instead of generating."""

    name = "faultgen"

    def __init__(self, size: int = 32, fault: str = "raise"):
        super().__init__(size, boxes=True)
        self.fault = fault

    def generate(self, req, ctx):
        misbehave(self.fault, ctx.work_dir)
        return super().generate(req, ctx)


@hookimpl
def benchbench_register_detectors(register):
    register("faultdet", "benchbench_faults:FaultDetector")
    register("probedet", "benchbench_faults:ProbeDetector")


@hookimpl
def benchbench_register_generators(register):
    register("faultgen", "benchbench_faults:FaultGenerator", uses_guidance=False, gives_boxes=True)
