"""A toy generator that calibrates itself on the training frames (the calibration hook's tests).

Loaded next to benchbench_toys: ``BENCHBENCH_PLUGIN_MODULES=benchbench_toys,benchbench_toys_folds``.
"""

from __future__ import annotations

import numpy as np
from benchbench_toys import ToyGenerator

from benchbench.api import CellContext, Frame, FrameSet, GenerationRequest
from benchbench.hookspecs import hookimpl

__version__ = "1.0"


class CalibratedToyGenerator(ToyGenerator):
    """Toy frames whose crack contrast is the training cracks' median contrast; draws at ``size`` px and
    gives the training crops' sizes, so the harness resizes its frames to them."""

    name = "toygen-calib"

    def __init__(self, size: int = 48):
        super().__init__(size, boxes=True)

    def calibrate(self, train: FrameSet) -> dict:
        lifts = [float(f.load()[..., 0].max()) - float(np.median(f.load()[..., 0]))
                 for f in train if f.label == "crack"]
        return {"contrast": float(np.median(lifts)), "groups": train.groups(), "n_frames": len(train),
                "crop_sizes": sorted({max(f.width, f.height) for f in train})}

    def generate(self, req: GenerationRequest, ctx: CellContext) -> list[Frame]:
        if req.calibration is None:
            raise RuntimeError("calibrated toy generator asked to generate without its calibration")
        frames = super().generate(req, ctx)
        # the calibration reaches the frames: their source names the specimens it was made from
        return [Frame(f.path, f.width, f.height, f.label, f.boxes, f.group,
                      "synthetic:calib:" + "+".join(req.calibration["groups"]), image=f.image, meta=f.meta)
                for f in frames]


@hookimpl
def benchbench_register_generators(register):
    register("toygen-calib", CalibratedToyGenerator, uses_guidance=False, gives_boxes=True)
