"""Import ultralytics fully offline, with its settings and fonts in a private folder.

Ultralytics decides at *import* time whether it is online (a DNS lookup unless
``YOLO_OFFLINE`` is set), where its settings live (``YOLO_CONFIG_DIR``) and which
integrations (ClearML, Comet, MLflow, ...) and telemetry to enable (settings.json).
Later it fetches ``Arial.ttf`` from its asset server when the font is not in the
settings folder. So the environment and the fonts must be in place *before* the
first import, and when another cell of this process imported ultralytics first,
the module-level constants it computed must be rebound to offline values.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from benchbench.api import MissingDependency

# Font names ultralytics asks for: Arial.ttf for ASCII class names, Arial.Unicode.ttf otherwise.
FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
# Settings that would start telemetry or third-party loggers (each may phone home).
OFFLINE_SETTINGS: dict[str, Any] = {
    "sync": False, "clearml": False, "comet": False, "dvc": False, "mlflow": False,
    "raytune": False, "tensorboard": False, "wandb": False, "vscode_msg": False, "openvino_msg": False,
}


def find_font() -> Path:
    """A TTF that can stand in for Arial: matplotlib's DejaVuSans (matplotlib is a core dependency)."""
    spec = importlib.util.find_spec("matplotlib")
    candidates: list[Path] = []
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf")
    for root in ("/usr/share/fonts", "/usr/local/share/fonts", "/Library/Fonts", "C:/Windows/Fonts"):
        if Path(root).is_dir():
            candidates.extend(sorted(Path(root).rglob("*.ttf"))[:1])
    for path in candidates:
        if path.is_file():
            return path
    raise MissingDependency("matplotlib", purpose="the font ultralytics needs offline")


def prepare_config_dir(config_root: Path) -> Path:
    """Create ``<config_root>/Ultralytics`` holding both fonts; return that folder."""
    settings_dir = config_root / "Ultralytics"
    settings_dir.mkdir(parents=True, exist_ok=True)
    font = find_font()
    for name in FONT_NAMES:
        target = settings_dir / name
        if not target.exists():
            shutil.copyfile(font, target)
    return settings_dir


def import_ultralytics(config_root: str | os.PathLike) -> ModuleType:
    """Import (or re-point) ultralytics so that nothing it does can reach the network.

    ``config_root`` becomes ``YOLO_CONFIG_DIR``; settings.json and the fonts live in
    ``config_root/Ultralytics``. Returns the ``ultralytics`` module.
    """
    config_root = Path(config_root).resolve()
    settings_dir = prepare_config_dir(config_root)
    os.environ["YOLO_OFFLINE"] = "1"  # read at import: skips the DNS "am I online" probe
    os.environ["YOLO_AUTOINSTALL"] = "False"  # never pip-install a missing requirement mid-run
    os.environ["YOLO_CONFIG_DIR"] = str(config_root)
    os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"  # checkpoints load with torch.load(weights_only=True)
    already = "ultralytics.utils" in sys.modules
    if importlib.util.find_spec("ultralytics") is None:
        raise MissingDependency("ultralytics", purpose="the yolo detector")
    muted = logging.root.manager.disable
    logging.disable(max(muted, logging.INFO))  # no "Creating new Ultralytics Settings" banner on import
    try:
        import ultralytics
        import ultralytics.utils as uutils
    finally:
        logging.disable(muted)

    _rebind_offline(uutils, settings_dir, force=already)
    return ultralytics


def _rebind_offline(uutils: ModuleType, settings_dir: Path, *, force: bool) -> None:
    """Make the already-computed module constants offline and private to ``settings_dir``.

    After a fresh import with our environment they already point at ``settings_dir``;
    only the settings values need turning off. After an earlier import (another cell,
    another folder, maybe online), every module that copied ``ONLINE``, ``SETTINGS`` or
    ``USER_CONFIG_DIR`` by name gets the new value: replacing the objects (not editing
    them) leaves the other cell's settings.json untouched.
    """
    from ultralytics.utils import checks, events

    settings = uutils.SETTINGS
    if force or Path(settings.file).parent != settings_dir:
        level = uutils.LOGGER.level
        uutils.LOGGER.setLevel(logging.WARNING)  # no "Creating new Ultralytics Settings" banner per cell
        try:
            settings = uutils.SettingsManager(file=settings_dir / "settings.json")
        finally:
            uutils.LOGGER.setLevel(level)
    defaults = {
        "datasets_dir": str(settings_dir / "datasets"),
        "weights_dir": str(settings_dir / "weights"),
        "runs_dir": str(settings_dir / "runs"),
    }
    wanted = {**OFFLINE_SETTINGS, **defaults}
    if any(settings.get(k) != v for k, v in wanted.items()):
        settings.update(wanted)  # writes only our private settings.json
    replacements = {
        "ONLINE": False,
        "SAFE_LOAD": True,
        "SETTINGS": settings,
        "USER_CONFIG_DIR": settings_dir,
        "SETTINGS_FILE": settings_dir / "settings.json",
        "DATASETS_DIR": Path(defaults["datasets_dir"]),
        "WEIGHTS_DIR": Path(defaults["weights_dir"]),
        "RUNS_DIR": Path(defaults["runs_dir"]),
    }
    old = {name: getattr(uutils, name, None) for name in replacements}
    for mod_name, module in list(sys.modules.items()):
        if module is None or not (mod_name == "ultralytics" or mod_name.startswith("ultralytics.")):
            continue
        for name, new in replacements.items():
            current = module.__dict__.get(name, _MISSING)
            if current is not _MISSING and (current is old[name] or module is uutils):
                module.__dict__[name] = new
    events.events.enabled = False  # telemetry object was built at import from ONLINE and settings
    # check_font memoises its answer; an earlier cell's font path may live in a deleted folder.
    cached = getattr(checks.check_font, "__wrapped__", None)
    if cached is not None and hasattr(cached, "cache_clear"):
        cached.cache_clear()


_MISSING = object()
