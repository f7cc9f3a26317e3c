"""benchbench plugin ``detectron2``: Faster R-CNN, RetinaNet and Mask R-CNN from detectron2's config files.

Only registers an import string, so listing plugins imports neither torch nor detectron2.
"""

from __future__ import annotations

from benchbench.api import hookimpl

__version__ = "0.1.0"


@hookimpl
def benchbench_register_detectors(register):
    register("detectron2", "benchbench_detectron2.detector:Detectron2Detector",
             description="detectron2 Faster R-CNN (default), RetinaNet or Mask R-CNN (learns from crack masks)")
