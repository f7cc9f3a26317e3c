"""Where a generator's weights learnt from, and the guard that keeps test specimens out of them.

A generator trained on frames of the run's test specimens would carry those frames into
training (memorised crack shapes, the same plate) and inflate every synthetic cell. Every
``bench train`` command therefore writes ``training-manifest.json`` beside the weights: the
content hashes (file bytes and decoded pixels) and specimen groups of its training frames.
``bench run`` / ``bench validate`` refuse a generator whose manifest names a test specimen or
a test image; weights without a manifest (released third-party weights) run with a recorded
"provenance unknown" warning.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.errors import UserError

MANIFEST = "training-manifest.json"
EXPORT_MANIFEST = "benchbench-export.json"  # written by `bench data export` beside the frames
VERSION = 1


def pixel_sha256(rgb: np.ndarray) -> str:
    """Hash of decoded RGB pixels: the same image re-encoded (JPEG -> PNG) keeps it."""
    arr = np.ascontiguousarray(rgb, dtype=np.uint8)
    return hashlib.sha256(f"{arr.shape}".encode() + arr.tobytes()).hexdigest()


def _image_record(path: Path, label: str, group: str) -> dict[str, Any]:
    from PIL import Image

    from benchbench.hashing import file_sha256

    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    return {"name": path.name, "label": label, "group": group, "sha256": file_sha256(path),
            "pixels": pixel_sha256(rgb)}


def _export_groups(data_dir: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """File name -> group from the `bench data export` manifest in ``data_dir`` or its parent (training
    may read one class folder of an export), and the export's header; empty when there is none."""
    for d in (data_dir, data_dir.parent):
        try:
            export = json.loads((d / EXPORT_MANIFEST).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            continue
        groups = {f["name"]: f["group"] for f in export.get("frames", [])}  # export names are unique
        return groups, {k: v for k, v in export.items() if k not in ("frames", "counts")}
    return {}, {}


def write_training_manifest(out: str | os.PathLike, data_dir: str | os.PathLike | None,
                            files: Mapping[str, Sequence[Path]], *, trainer: str,
                            group_regex: str | None = r"Sample\d+") -> Path:
    """Record the frames a generator was trained on, in ``out/training-manifest.json``.

    ``files`` maps each class to its training images under ``data_dir``. Groups come from the
    export manifest when ``data_dir`` was written by ``bench data export`` (exact), else from
    ``group_regex`` on the file name. ``data_dir`` None: weights that learnt from no frame (random init).
    """
    from benchbench.data.groups import compile_group_regex, group_of

    out = Path(out)
    exported, header = _export_groups(Path(data_dir)) if data_dir is not None else ({}, {})
    regex = compile_group_regex(group_regex)
    frames = []
    for label, paths in files.items():
        for p in paths:
            name = Path(p).name
            frames.append(_image_record(Path(p), label, exported.get(name) or group_of(name, regex)))
    manifest = {"version": VERSION, "trainer": trainer, "written": datetime.now(UTC).isoformat(),
                "data": None if data_dir is None else str(data_dir), "export": header or None,
                "group_source": "export manifest" if exported else (
                    None if data_dir is None else f"file names ({group_regex})"),
                "groups": sorted({f["group"] for f in frames}), "n_frames": len(frames), "frames": frames}
    out.mkdir(parents=True, exist_ok=True)
    path = out / MANIFEST
    path.write_text(json.dumps(manifest, indent=1))
    return path


def find_manifest(folders: Iterable[Path]) -> Path | None:
    """The training manifest of a weights folder: in it or in its parent (``OUT/crack`` -> ``OUT``)."""
    for folder in folders:
        for d in (Path(folder), Path(folder).parent):
            if (d / MANIFEST).is_file():
                return d / MANIFEST
    return None


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"unreadable training manifest ({exc})", file=path,
                        fix="re-run the training command, or delete the file to run as 'provenance unknown'") from None
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list):
        raise UserError("training manifest without a 'frames' list", file=path,
                        fix="re-run the training command that wrote it") from None
    return data


def check_against_test(name: str, manifest: dict[str, Any] | None, test: Any, *, file: str,
                       field: str) -> dict[str, Any]:
    """Refuse a generator trained on the test specimens or test images; else its provenance record.

    ``manifest`` None means unknown provenance (weights from elsewhere): allowed, and said so.
    """
    if manifest is None:
        return {"status": "unknown", "warning": f"generator '{name}' has no training manifest: its weights may "
                "have seen the test specimens (provenance unknown)"}
    frames = manifest["frames"]
    test_groups = {f.group for f in test if f.source == "real"}
    for f in frames:
        if f.get("group") in test_groups:
            raise UserError(f"generator '{name}' was trained on test specimen {f['group']} (frame {f['label']}/"
                            f"{f['name']}): its frames would leak the held-out data into training",
                            file=file, field=field, fix="retrain it on the training specimens only "
                            "(bench data export MATRIX --split train), or change split.test_groups")
    by_hash = {}
    for f in frames:
        by_hash[f.get("sha256")] = f
        by_hash[f.get("pixels")] = f
    by_hash.pop(None, None)
    for t in test:
        twin = by_hash.get(t.content_hash()) or by_hash.get(pixel_sha256(t.load()))
        if twin is not None:
            raise UserError(f"generator '{name}' was trained on a test image ({twin['label']}/{twin['name']} = "
                            f"test frame {t.stem}, specimen {t.group})", file=file, field=field,
                            fix="retrain it without the test frames (bench data export MATRIX --split train)")
    return {"status": "checked", "n_frames": len(frames), "groups": manifest.get("groups", []),
            "trainer": manifest.get("trainer"), "export": manifest.get("export")}
