"""Hook specifications of the ``benchbench`` pluggy project.

Register hooks receive a ``register(name, factory, **meta)`` callback: ``factory`` is a
callable or an import string ``"pkg.module:Attr"`` resolved only when a run needs it, so
listing plugins never imports torch. Implementations may accept any subset of the
arguments (pluggy passes them by keyword) and must not give them defaults.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("benchbench")
hookimpl = pluggy.HookimplMarker("benchbench")


@hookspec
def benchbench_register_detectors(register):
    """Register detectors: ``register("yolo", "benchbench_yolo.detector:YoloDetector")``.

    Fires once when plugins load. ``factory(**params)`` receives the matrix entry's
    parameters (everything but ``name`` and ``plugin``) and returns an object that
    follows :class:`benchbench.api.Detector`. Return value ignored.
    """


@hookspec
def benchbench_register_generators(register):
    """Register synthetic-frame generators (:class:`benchbench.api.Generator`).

    Fires once when plugins load. Pass ``uses_guidance=False`` as meta for generators
    that ignore the guidance axis (the planner then does not multiply their cells by it),
    and ``gives_boxes=True`` when generated cracked frames carry exact boxes.
    """


@hookspec
def benchbench_register_datasets(register):
    """Register datasets (:class:`benchbench.api.Dataset`), selected by ``data.dataset``.

    Fires once when plugins load. ``factory(**params)`` gets the ``data`` mapping
    minus ``dataset``. Return value ignored.
    """


@hookspec
def benchbench_register_executors(register):
    """Register executors (:class:`benchbench.api.Executor`), selected by ``--executor``.

    Fires once when plugins load. Pass ``options=`` a pydantic model or dataclass of the
    executor's options (or an import string to one): the matrix's ``executor:`` mapping and
    ``bench run -x KEY=VALUE`` are checked against it, and ``factory(**options)`` gets every
    field, converted. Without a model, ``factory`` gets the given options as they are.
    Return value ignored.
    """


@hookspec
def benchbench_register_feature_extractors(register):
    """Register feature extractors for generator scores
    (:class:`benchbench.analysis.genscore.features.FeatureExtractor`).

    Fires once when plugins load. ``factory(**params)`` gets the ``scores.extractors`` entry of the
    matrix minus ``name``/``plugin``; it must load weights only from local paths. Return value ignored.
    """


@hookspec
def benchbench_cell_finished(cell, result):
    """Observe a finished cell, in the driver process, after its result file is written.

    ``cell`` is the planned :class:`benchbench.pipeline.planner.Cell`; ``result`` the cell's
    JSON-able result dict (status ``ok`` or ``failed``). Each implementation is called
    on its own: one that raises is reported and the others still run. Return value ignored.
    """


@hookspec
def benchbench_register_commands(cli):
    """Add click commands to the ``bench`` CLI (datasette-style).

    ``cli`` is the root :class:`click.Group`; core also provides the groups
    ``cli.commands["train"]`` and ``cli.commands["generators"]`` for plugins' training
    and weight-initialisation commands. Fires when the CLI starts, so import nothing
    heavy at module level: import torch inside the command body. Return value ignored.
    """
