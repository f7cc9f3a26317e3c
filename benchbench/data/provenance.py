"""Where a generator's weights learnt from, and the guard that keeps test specimens out of them.

A generator trained on frames of the run's test specimens would carry those frames into
training (memorised crack shapes, the same plate) and inflate every synthetic cell. Every
``bench train`` command therefore writes ``training-manifest.json`` beside the weights: the
content hashes (file bytes and decoded pixels) and specimen groups of its training frames.
``bench run`` / ``bench validate`` refuse a generator whose manifest names a test specimen, a test
image or a near-copy of one (resized, re-encoded: :func:`thumbnail`); weights without a manifest
(released third-party weights) run with a recorded "provenance unknown" warning.

A manifest is bound to the weights it was written with (the sha256 of every file beside it), so a
clean manifest copied beside other weights is refused; one listing no frame must say so
(``no_data: true``: random init, a simulator).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.data.groups import compile_group_regex, group_of
from benchbench.errors import UserError
from benchbench.hashing import file_sha256

MANIFEST = "training-manifest.json"
EXPORT_MANIFEST = "benchbench-export.json"  # written by `bench data export` beside the frames
MASKS_DIR = "masks"  # the exported cracked frames' masks: exported_mask()
VERSION = 2  # 2: weights' sha256, no_data, thumbnails
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".onnx")  # what a pipeline loads
# A trainer's resume state (optimizer, RNG, the UNet at step s: benchbench.diffusion.Checkpoints) lives in
# OUT/checkpoints/. No generator loads it, so it is not part of the weights: deleting it after training, or
# copying the weights without it, leaves the manifest valid.
RESUME_STATE_DIR = "checkpoints"
RETRAIN = "re-run the training command that wrote it (a manifest describes only the weights it was written with)"

# Near-copies. Bit hashes (average/difference hash, 64-256 bits) cannot tell FLYD-S frames apart: frames of
# different specimens share the plate band and the spot, and hash within 0-1 bits of each other while a
# resized copy moves 9-12 bits. The grey levels of an 8x8 thumbnail can: measured on FLYD-S (323 frames)
# and on simulated frames, resized (48-300 px) and JPEG (q >= 50) copies stay within 0.97 grey levels of
# the original on average, frames of another specimen are never closer than 1.66 (FLYD-S) / 1.94 (simulated).
THUMB = 8
NEAR_COPY = 1.25  # mean absolute grey difference (0-255) of two thumbnails at or below which they are one frame
FLAT = 2.0  # a thumbnail with less grey spread (std) than this shows nothing to copy (a blank frame)


def exported_mask(export_root: str | os.PathLike, image_name: str) -> Path:
    """Where ``bench data export`` puts the mask of its image ``image_name``: ``masks/<stem>.png``, by stem
    (as YOLO names its label files) so that the mask of a frame exported as .jpg is still a lossless PNG."""
    return Path(export_root) / MASKS_DIR / (Path(image_name).stem + ".png")


def pixel_sha256(rgb: np.ndarray) -> str:
    """Hash of decoded RGB pixels: the same image re-encoded (JPEG -> PNG) keeps it."""
    arr = np.ascontiguousarray(rgb, dtype=np.uint8)
    return hashlib.sha256(f"{arr.shape}".encode() + arr.tobytes()).hexdigest()


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """The frame as THUMB x THUMB grey levels (uint8, area-averaged): what survives resizing and re-encoding."""
    from PIL import Image  # PIL: heavy, off the start-up path

    grey = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).convert("L")
    return np.asarray(grey.resize((THUMB, THUMB), Image.Resampling.BOX), dtype=np.uint8)


def _image_record(path: Path, label: str, group: str) -> dict[str, Any]:
    from PIL import Image  # PIL: heavy, off the start-up path

    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    return {"name": path.name, "label": label, "group": group, "sha256": file_sha256(path),
            "pixels": pixel_sha256(rgb), "thumb": thumbnail(rgb).tobytes().hex()}


def _resume_state(rel: str) -> bool:
    return rel.split("/", 1)[0] == RESUME_STATE_DIR


def weights_sha256(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` by relative name, the manifest and the resume state excepted."""
    return {rel: file_sha256(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MANIFEST and not _resume_state(rel := p.relative_to(folder).as_posix())}


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
                            group_regex: str | None = r"Sample\d+", base: str | os.PathLike | None = None) -> Path:
    """Record the frames a generator was trained on, in ``out/training-manifest.json``.

    ``files`` maps each class to its training images under ``data_dir``. Groups come from the
    export manifest when ``data_dir`` was written by ``bench data export`` (exact), else from
    ``group_regex`` on the file name. ``data_dir`` None: weights that learnt from no frame (random init).
    Call it once the weights are saved in ``out``: it records their sha256, and a later change to them
    (or a copy of this manifest beside other weights) is refused.

    ``base``: the weights folder this training started from (fine-tuning). Its manifest's frames are
    listed too (``"via": "base"``), so the guard sees what the base learnt; a base without a manifest
    (released weights) is recorded as such. A base exported from another fold (other test specimens)
    than ``data_dir`` is refused: its training frames may be this fold's test frames.
    """
    out = Path(out)
    exported, header = _export_groups(Path(data_dir)) if data_dir is not None else ({}, {})
    regex = compile_group_regex(group_regex)
    frames = []
    for label, paths in files.items():
        for p in paths:
            name = Path(p).name
            frames.append(_image_record(Path(p), label, exported.get(name) or group_of(name, regex)))
    inherited = _base_record(Path(base), header) if base is not None else None
    if inherited is not None:
        frames += inherited.pop("frames")
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"version": VERSION, "trainer": trainer, "written": datetime.now(UTC).isoformat(),
                "data": None if data_dir is None else str(data_dir), "export": header or None,
                "group_source": "export manifest" if exported else (
                    None if data_dir is None else f"file names ({group_regex})"),
                "no_data": data_dir is None and not frames, "weights": weights_sha256(out), "base": inherited,
                "groups": sorted({f["group"] for f in frames}), "n_frames": len(frames), "frames": frames}
    path = out / MANIFEST
    path.write_text(json.dumps(manifest, indent=1))
    return path


def _base_record(base: Path, export: dict[str, Any]) -> dict[str, Any]:
    """What a fine-tuned model inherits from ``base``: its path, trainer and frames (empty when unknown)."""
    path = base / MANIFEST
    if not path.is_file():
        return {"path": str(base), "manifest": False, "frames": []}
    data = read_manifest(path)
    theirs = (data.get("export") or {}).get("test_groups")
    ours = export.get("test_groups")
    if theirs is not None and ours is not None and sorted(theirs) != sorted(ours):
        raise UserError(f"the base was trained with test specimens {', '.join(sorted(theirs))} held out, these frames "
                        f"with {', '.join(sorted(ours))}: the base may have learnt this fold's test frames",
                        file=path, field="--base", fix="fine-tune the base trained on the same fold's export")
    return {"path": str(base), "manifest": True, "trainer": data.get("trainer"),
            "frames": [{**f, "via": "base"} for f in data["frames"]]}


def find_manifest(folder: str | os.PathLike) -> Path | None:
    """The training manifest of a weights folder: in it or in its parent (``OUT/crack`` -> ``OUT``)."""
    for d in (Path(folder), Path(folder).parent):
        if (d / MANIFEST).is_file():
            return d / MANIFEST
    return None


def generator_manifest(folders: Iterable[str | os.PathLike]) -> dict[str, Any] | None:
    """The training manifests of all of a generator's weights folders as one, so that the leakage guard
    checks every folder's frames: an SD pair's positive may have been fine-tuned on other frames than its
    negative. Folders without a manifest are listed under ``without_manifest``; None when none has one."""
    found: dict[Path, None] = {}
    missing = []
    for folder in folders:
        path = find_manifest(folder)
        if path is None:
            missing.append(str(folder))
        else:
            found[path] = None
    parts = [read_manifest(p) for p in found]
    if not parts:
        return None
    if len(parts) == 1 and not missing:
        return parts[0]
    # a DreamBooth pair lists its base's frames twice, once through each fine-tuned folder
    frames = list({json.dumps(f, sort_keys=True): f for part in parts for f in part["frames"]}.values())
    return {**parts[0], "frames": frames, "n_frames": len(frames), "groups": sorted({f["group"] for f in frames}),
            "no_data": all(part.get("no_data") is True for part in parts),
            "weights_bound": all(part["weights_bound"] for part in parts), "without_manifest": missing}


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest at ``path``, its entries checked and its weights (the files beside it) verified.

    ``weights_bound`` says whether it named the weights' sha256 (False: written before manifests did).
    """
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"unreadable training manifest ({exc})", file=path,
                        fix="re-run the training command, or delete the file to run as 'provenance unknown'") from None
    check_manifest(data, path, "")
    data["weights_bound"] = _check_weights(data.get("weights"), path)
    return data


_ENTRY = {"name": str, "label": str, "group": str, "sha256": (str, type(None)), "pixels": (str, type(None)),
          "thumb": (str, type(None))}


def check_manifest(data: Any, file: str | os.PathLike, field: str) -> None:
    """A one-line user error for a manifest that is not what `write_training_manifest` writes."""
    where = f"{field} " if field else ""
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list):
        raise UserError(f"{where}training manifest without a 'frames' list", file=file, fix=RETRAIN)
    for i, f in enumerate(data["frames"]):
        if not isinstance(f, dict):
            raise UserError(f"{where}frames[{i}] is {type(f).__name__}, not an entry (name, label, group, hashes)",
                            file=file, fix=RETRAIN)
        for key, kind in _ENTRY.items():
            if not isinstance(f.get(key), kind):
                raise UserError(f"{where}frames[{i}].{key} is {f.get(key)!r}, not a string", file=file, fix=RETRAIN)
        if f.get("thumb") is not None and not re.fullmatch(f"[0-9a-f]{{{2 * THUMB * THUMB}}}", f["thumb"]):
            raise UserError(f"{where}frames[{i}].thumb is not a {THUMB}x{THUMB} thumbnail (hex)", file=file,
                            fix=RETRAIN)
    if not data["frames"] and data.get("no_data") is not True:
        raise UserError(f"{where}training manifest lists no training frame and does not declare 'no_data: true' "
                        "(weights that learnt from no frame: random init, a simulator)", file=file, fix=RETRAIN)


def _check_weights(recorded: Any, path: Path) -> bool:
    """Whether the manifest names its weights; a user error when the files beside it are other weights."""
    if recorded is None:
        return False
    folder = path.parent
    if not isinstance(recorded, dict) or not all(isinstance(v, str) for v in recorded.values()):
        raise UserError("weights is not a mapping of file name -> sha256", file=path, fix=RETRAIN)
    for rel, sha in recorded.items():
        if _resume_state(rel):  # listed by manifests written before RESUME_STATE_DIR was set apart
            continue
        f = folder / rel
        if not f.resolve().is_relative_to(folder.resolve()):
            raise UserError(f"weights names {rel!r}, outside its folder", file=path, fix=RETRAIN)
        if not f.is_file():
            raise UserError(f"its weights file {rel} is missing", file=path, fix=RETRAIN)
        if file_sha256(f) != sha:
            raise UserError(f"the weights beside it are not the ones it was written with ({rel} differs)",
                            file=path, fix=RETRAIN)
    extra = [rel for p in sorted(folder.rglob("*")) if p.suffix in WEIGHT_SUFFIXES and p.is_file()
             and (rel := p.relative_to(folder).as_posix()) not in recorded and not _resume_state(rel)]
    if extra:
        raise UserError(f"the weights beside it are not the ones it was written with ({extra[0]} is not among "
                        "them)", file=path, fix=RETRAIN)
    return True


def check_against_test(name: str, manifest: dict[str, Any] | None, test: Any, *, file: str,
                       field: str) -> dict[str, Any]:
    """Refuse a generator trained on the test specimens, test images or near-copies of them; else its
    provenance record.

    ``manifest`` None means unknown provenance (weights from elsewhere): allowed, and said so.
    """
    if manifest is None:
        return {"status": "unknown", "warning": f"generator '{name}' has no training manifest: its weights may "
                "have seen the test specimens (provenance unknown)"}
    check_manifest(manifest, file, f"{field} training manifest")
    frames = manifest["frames"]
    test_groups = {f.group for f in test} - {"default"}  # "default": a dataset without specimens
    for f in frames:
        if f["group"] in test_groups:
            raise UserError(f"generator '{name}' was trained on test specimen {f['group']} (frame {f['label']}/"
                            f"{f['name']}): its frames would leak the held-out data into training",
                            file=file, field=field, fix="retrain it on the training specimens only "
                            "(bench data export MATRIX --split train), or change split.test_groups")
    by_hash = {h: f for f in frames for h in (f.get("sha256"), f.get("pixels")) if h}
    thumbs = [(f, np.frombuffer(bytes.fromhex(f["thumb"]), np.uint8)) for f in frames if f.get("thumb")]
    known = np.stack([t for _, t in thumbs]).astype(np.float32) if thumbs else None
    for t in test:
        rgb = t.load()
        twin = by_hash.get(t.content_hash()) or by_hash.get(pixel_sha256(rgb))
        if twin is not None:
            raise UserError(f"generator '{name}' was trained on a test image ({twin['label']}/{twin['name']} = "
                            f"test frame {t.stem}, specimen {t.group})", file=file, field=field,
                            fix="retrain it without the test frames (bench data export MATRIX --split train)")
        near = _near_copy(thumbnail(rgb).ravel().astype(np.float32), known)
        if near is not None:
            f, d = thumbs[near[0]][0], near[1]
            raise UserError(f"generator '{name}' was trained on a near-copy of test frame {t.stem} (specimen "
                            f"{t.group}): {f['label']}/{f['name']} differs from it by {d:.2f} grey levels on "
                            f"average at {THUMB}x{THUMB} (a resized or re-encoded copy)", file=file, field=field,
                            fix="retrain it without the test frames (bench data export MATRIX --split train)")
    record = {"status": "checked", "n_frames": len(frames), "groups": manifest.get("groups", []),
              "trainer": manifest.get("trainer"), "export": manifest.get("export")}
    old = [what for what, missing in (("bound to its weights", manifest.get("weights_bound") is False),
                                      ("checked for near-copies", len(thumbs) < len(frames))) if missing]
    warnings = [f"generator '{name}': its training manifest was written by an older benchbench and cannot be "
                f"{' or '.join(old)}: retrain it to check its provenance in full"] if old else []
    if manifest.get("without_manifest"):
        warnings.append(f"generator '{name}': {', '.join(manifest['without_manifest'])} has no training manifest: "
                        "those weights may have seen the test specimens (provenance unknown)")
    if warnings:
        record["warning"] = "; ".join(warnings)
    return record


def _near_copy(thumb: np.ndarray, known: np.ndarray | None) -> tuple[int, float] | None:
    """(index, distance) of the closest known thumbnail within NEAR_COPY of ``thumb``; None if none is."""
    if known is None or thumb.std() < FLAT:
        return None
    dist = np.abs(known - thumb).mean(axis=1)
    i = int(np.argmin(dist))
    return (i, float(dist[i])) if dist[i] <= NEAR_COPY else None
