"""benchbench plugin: Ultralytics YOLO detectors (trained from a yaml config or a local checkpoint).

Only registers an import string here, so ``bench plugins`` never imports torch.
"""

from __future__ import annotations

from benchbench.api import hookimpl

__version__ = "0.1.0"


@hookimpl
def benchbench_register_detectors(register):
    register("yolo", "benchbench_yolo.detector:YoloDetector",
             description="Ultralytics YOLO (v8/11/26...) built from a yaml config or a local .pt, trained offline")
