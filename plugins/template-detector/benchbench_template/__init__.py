"""benchbench plugin template: a torch-free detector to copy when writing your own plugin.

This module is what the ``benchbench`` entry point loads, every time ``bench`` starts.
Keep it tiny: register *import strings*, import nothing heavy.
"""

from __future__ import annotations

from benchbench.api import hookimpl

__version__ = "0.1.0"


@hookimpl
def benchbench_register_detectors(register):
    # name used in matrix.yaml (`plugin: template`) -> "module:Class" imported only when a run needs it
    register("template", "benchbench_template.detector:TemplateDetector",
             description="vertical-edge detector (numpy): learns scale, threshold and box size from train boxes")
