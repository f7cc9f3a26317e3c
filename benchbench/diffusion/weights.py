"""Diffusers pipeline folders: checked, fingerprinted, loaded quietly in the requested dtype."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchbench.errors import UserError
from benchbench.hashing import dir_fingerprint, file_sha256


def torch_dtype(dtype: str, device: str) -> Any:
    """'auto' (float16 on CUDA, float32 elsewhere), 'float32', 'float16' or 'bfloat16'."""
    import torch

    if dtype == "auto":
        return torch.float16 if str(device).startswith("cuda") else torch.float32
    try:
        return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
    except KeyError:
        raise UserError(f"unknown dtype '{dtype}'", field="dtype",
                        fix="use auto, float32, float16 or bfloat16") from None


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Silence diffusers/transformers loading bars and warnings (the harness shows its own progress)."""
    from diffusers.utils import logging as dlog

    mods = [dlog]
    try:  # transformers is only there for pipelines with text encoders
        from transformers.utils import logging as tlog

        mods.append(tlog)
    except ImportError:
        pass
    states = [(mod, mod.is_progress_bar_enabled(), mod.get_verbosity()) for mod in mods]
    for mod, _, _ in states:
        mod.disable_progress_bar()
        mod.set_verbosity_error()
    try:
        yield
    finally:
        for mod, enabled, verbosity in states:
            if enabled:
                mod.enable_progress_bar()
            mod.set_verbosity(verbosity)


def require_pipeline_dir(value: str | os.PathLike | None, *, field: str) -> Path:
    """A local diffusers pipeline folder (with model_index.json) or a one-line user error."""
    if value is None or str(value) == "":
        raise UserError("a local diffusers pipeline folder is required", field=field,
                        fix=f"set {field}: to a folder saved with save_pretrained (benchbench never downloads)")
    path = Path(value).expanduser()
    if not path.exists():
        raise UserError(f"weights not found at {path}", field=field,
                        fix="give a local diffusers folder (benchbench never downloads)")
    if not (path / "model_index.json").is_file():
        raise UserError(f"{path} is not a diffusers pipeline folder (no model_index.json)", field=field,
                        fix="point it at the folder written by save_pretrained / bench train")
    return path.absolute()  # pipelines load in the cell's work folder: see benchbench.paths


def class_folders(weights: str | os.PathLike | None, per_class: Mapping[str, tuple[str, str | os.PathLike | None]],
                  *, split: Callable[[str | os.PathLike], dict[str, Path]], weights_hold: str, fix: str
                  ) -> dict[str, Path]:
    """Each class's pipeline folder, from a generator's two ways of naming them: ``weights`` (made into
    class -> folder by ``split``) or one parameter per class, ``per_class[label] = (parameter, value)``.

    Giving both or neither is a user error: ``weights_hold`` says what ``weights:`` is (in the
    "not both" message), ``fix`` where weights come from (in the "none given" one).
    """
    given = "/".join(f"{name}:" for name, _ in per_class.values())
    if weights is not None:
        if any(value is not None for _, value in per_class.values()):
            raise UserError(f"give either weights: ({weights_hold}) or {given}, not both", field="weights",
                            fix=f"remove weights: or remove {given}")
        return split(weights)
    if all(value is None for _, value in per_class.values()):
        raise UserError("no weights given", field="weights", fix=fix)
    return {label: require_pipeline_dir(value, field=name) for label, (name, value) in per_class.items()}


def pipeline_fingerprint(folder: str | os.PathLike, skip: Sequence[str] = ()) -> str:
    """Hash of a pipeline folder's model_index.json and every file of its components.

    Only the component folders named in model_index.json count, so checkpoints or
    sample images kept beside the pipeline do not change the fingerprint. ``skip``
    names components that are never loaded (e.g. ``safety_checker``, 1.2 GB in SD v1.5).
    """
    root = Path(folder)
    index_path = root / "model_index.json"
    index = json.loads(index_path.read_text())
    h = hashlib.sha256(file_sha256(index_path).encode())
    for comp in sorted(k for k, v in index.items() if not k.startswith("_") and isinstance(v, list)
                       and v and v[0] is not None and k not in skip):
        sub = root / comp
        if sub.is_dir():
            h.update(f"{comp}:{dir_fingerprint(sub)}".encode())
    return h.hexdigest()
