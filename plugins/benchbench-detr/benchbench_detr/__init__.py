"""benchbench plugin ``detr``: DINO-style DETR detectors from transformers.

Only registers an import string, so listing plugins never imports torch.
"""

from __future__ import annotations

from benchbench.api import hookimpl

__version__ = "0.1.0"


@hookimpl
def benchbench_register_detectors(register):
    register("detr", "benchbench_detr.detector:DetrDetector",
             description="RT-DETR (default), D-FINE, Deformable/DAB/plain DETR via transformers")
