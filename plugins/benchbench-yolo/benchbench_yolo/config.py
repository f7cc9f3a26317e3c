"""Resolve and check the ``model`` parameter without importing ultralytics (so without torch).

A model is either an ultralytics detection config name (``yolov8n.yaml``, ``yolo11s.yaml``;
always built from the yaml, never fetched as a hub ``.pt``), a local yaml file, or a local
``.pt`` checkpoint to fine-tune from.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from benchbench.api import MissingDependency, UserError, require_local_path

# Heads the ultralytics DetectionTrainer can train (RT-DETR, YOLO-World, YOLOE need other trainers).
DETECT_HEADS = frozenset({"Detect", "v10Detect"})
_SCALE_RE = re.compile(r"(\d+)([nslmx])(.+)?$")  # yolov8n -> yolov8, the same rule ultralytics applies


@dataclass(frozen=True)
class ModelSpec:
    """What ``model`` resolved to: a config dict to build from, or a checkpoint to start from."""

    source: str  # the matrix value
    kind: str  # "config" | "checkpoint"
    config: dict[str, Any] | None = None  # yaml dict (kind == "config")
    scale: str | None = None  # scale letter in use (kind == "config")
    path: Path | None = None  # local file behind the name


@cache
def ultralytics_dir() -> Path:
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency("ultralytics", purpose="the yolo detector")
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def builtin_configs() -> dict[str, Path]:
    """Stem -> file of every config shipped with ultralytics (unified names, e.g. 'yolov8')."""
    root = ultralytics_dir() / "cfg" / "models"
    return {p.stem: p for p in sorted(root.rglob("*.yaml"))}


@cache
def default_train_args() -> frozenset[str]:
    """Every key ultralytics' train/val/predict configuration accepts (from its default.yaml)."""
    with open(ultralytics_dir() / "cfg" / "default.yaml", encoding="utf-8") as fh:
        return frozenset(yaml.safe_load(fh))


def resolve_model(model: str, scale: str | None = None, width: float | None = None,
                  depth: float | None = None) -> ModelSpec:
    """Turn the ``model`` parameter into a :class:`ModelSpec`, or raise a one-line UserError."""
    if not isinstance(model, str) or not model.strip():
        raise UserError("model must be a config name like 'yolov8n.yaml' or a local .pt path", field="model")
    model = model.strip()
    suffix = Path(model).suffix.lower()
    if suffix == ".pt":
        path = require_local_path(model, field="model", what="YOLO checkpoint")
        if scale or width or depth:
            raise UserError("scale/width/depth only apply when building from a yaml config", field="scale",
                            fix="drop them, or give a .yaml model")
        return ModelSpec(model, "checkpoint", path=path.resolve())
    if suffix not in (".yaml", ".yml"):
        raise UserError(f"'{model}' is neither a .yaml config nor a local .pt checkpoint", field="model",
                        fix="use e.g. model: yolov8n.yaml (built from scratch) or a path to a trained .pt")
    local = Path(model).expanduser()
    if local.is_file():
        path = local.resolve()
        letter = _guess_scale(path.stem)
    else:
        if any(sep in model for sep in ("/", "\\")):
            require_local_path(model, field="model", what="model config")
        stem = Path(model).stem
        letter = _guess_scale(stem)
        unified = _SCALE_RE.sub(r"\1\3", stem)
        configs = builtin_configs()
        path = configs.get(stem) or configs.get(unified)
        if path is None:
            names = sorted(n for n, p in configs.items() if _head(p) in DETECT_HEADS)
            raise UserError(f"unknown ultralytics model config '{model}'", field="model",
                            fix=f"use one of {', '.join(n + 'n.yaml' for n in names[:6])} ... or a local .yaml/.pt")
    with open(path, encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    head = _head_of(config)
    if head not in DETECT_HEADS:
        raise UserError(f"'{model}' is not a YOLO detection config (its head is {head})", field="model",
                        fix="pick a detection config such as yolov8n.yaml or yolo11n.yaml")
    return ModelSpec(model, "config", config=_apply_scale(config, model, scale or letter, width, depth),
                     scale=scale or letter or None, path=path)


def _apply_scale(config: dict[str, Any], model: str, letter: str | None, width: float | None,
                 depth: float | None) -> dict[str, Any]:
    """Fix the compound scaling to one entry, so the built model no longer depends on the file name."""
    config = dict(config)
    scales: dict[str, list[float]] = dict(config.get("scales") or {})
    if scales:
        if letter and letter not in scales:
            raise UserError(f"scale '{letter}' is not defined for {model}", field="scale",
                            fix=f"use one of {', '.join(scales)}")
        d, w, max_ch = scales[letter or next(iter(scales))]
    else:
        if letter:
            raise UserError(f"{model} has no scales", field="scale", fix="drop scale")
        d, w, max_ch = config.get("depth_multiple", 1.0), config.get("width_multiple", 1.0), 1024
    for value, name in ((width, "width"), (depth, "depth")):
        if value is not None and not (isinstance(value, int | float) and 0 < value <= 2):
            raise UserError(f"{name} must be a multiplier in (0, 2], got {value!r}", field=name)
    d = float(depth) if depth is not None else float(d)
    w = float(width) if width is not None else float(w)
    config["scales"] = {"custom": [d, w, int(max_ch)]}
    config.pop("scale", None)
    config.pop("depth_multiple", None)
    config.pop("width_multiple", None)
    return config


def _guess_scale(stem: str) -> str:
    m = re.search(r"yolo(e-)?v?\d+([nslmx])", stem)
    return m.group(2) if m else ""


@cache
def _head(path: Path) -> str | None:
    with open(path, encoding="utf-8") as fh:
        return _head_of(yaml.safe_load(fh))


def _head_of(config: Any) -> str | None:
    try:
        return str(config["head"][-1][2])
    except (KeyError, IndexError, TypeError):
        return None
