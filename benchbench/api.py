"""The public surface of benchbench: everything a plugin imports comes from here (or a kit).

A pure re-export module, like ``pluggy/__init__.py``: the core itself imports the modules
named below, never this one. The names, by what they are:

* data types and protocols: :class:`Box`, :class:`Frame`, :class:`FrameSet`,
  :class:`GenerationRequest`, :class:`CellContext`, :class:`Detector`, :class:`Generator`,
  :class:`Dataset`, :class:`Executor`, ``CLASSES`` (``benchbench.frames``, ``benchbench.protocols``);
* errors: :class:`BenchError`, :class:`UserError`, :class:`PluginError`, :class:`MissingDependency`;
* the hook marker :data:`hookimpl` (``benchbench.hookspecs`` holds the specifications);
* hashing, seeding and paths: :func:`sha256_json`, :func:`file_sha256`, :func:`dir_fingerprint`,
  :func:`seed_everything`, :func:`require_local_path`;
* frame IO and scoring: :func:`export_yolo`, :func:`export_coco`, :func:`as_rgb_uint8`,
  :func:`frame_mask`, :func:`coco_stats`, :func:`write_training_manifest` (and :data:`RESUME_STATE_DIR`,
  where a trainer keeps its checkpoints);
* torch helpers: :func:`torch_device`, :func:`torch_generator`, :func:`save_state`, :func:`load_state`.

Importing it costs numpy and pluggy, never torch: the torch helpers import torch (and
safetensors) inside their bodies, on first call. Kits beside it: ``benchbench.testing``
(conformance checks), ``benchbench.pytest_plugin`` (fixtures for plugin tests) and
``benchbench.diffusion`` (shared code of diffusion generator plugins). See docs/plugins.md.
"""

from benchbench.data.export import export_coco, export_yolo
from benchbench.data.provenance import RESUME_STATE_DIR, write_training_manifest
from benchbench.errors import BenchError, MissingDependency, PluginError, UserError
from benchbench.frames import CLASSES, Box, Frame, FrameSet, Label, as_rgb_uint8
from benchbench.hashing import dir_fingerprint, file_sha256, sha256_json
from benchbench.hookspecs import hookimpl
from benchbench.method.evaluation import coco_stats
from benchbench.metrics.masks import frame_mask
from benchbench.paths import require_local_path
from benchbench.protocols import CellContext, Dataset, Detector, Executor, GenerationRequest, Generator
from benchbench.seeding import seed_everything
from benchbench.torchkit import load_state, save_state, torch_device, torch_generator

__all__ = [
    # data types and protocols
    "Box", "Frame", "FrameSet", "Label", "CLASSES", "GenerationRequest", "CellContext",
    "Detector", "Generator", "Dataset", "Executor",
    # errors
    "BenchError", "UserError", "PluginError", "MissingDependency",
    # hooks
    "hookimpl",
    # hashing, seeding, paths
    "sha256_json", "file_sha256", "dir_fingerprint", "seed_everything", "require_local_path",
    # frame IO and scoring
    "export_yolo", "export_coco", "as_rgb_uint8", "frame_mask", "coco_stats", "write_training_manifest",
    "RESUME_STATE_DIR",
    # torch helpers (torch imported on first call)
    "torch_device", "torch_generator", "save_state", "load_state",
]
