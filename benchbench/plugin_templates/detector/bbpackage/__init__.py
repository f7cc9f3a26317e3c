"""bb-dist: a benchbench detector plugin (made by `bench plugins new detector bbname`).

This module is what the ``benchbench`` entry point loads, every time ``bench`` starts.
Keep it tiny: register *import strings*, import nothing heavy (no torch here).
"""

from __future__ import annotations

from benchbench.api import hookimpl

__version__ = "0.1.0"  # keep equal to pyproject.toml's version, which is part of every cell's key


@hookimpl
def benchbench_register_detectors(register):
    # name used in a matrix (`plugin: bbname`) -> "module:Class", imported only when a run needs it;
    # `bench plugins --all` describes it by the class docstring's first line (or a description= here)
    register("bbname", "bbpackage.detector:BbClassDetector")
