"""Images in and out of diffusion pipelines: training image folders, and pipeline outputs as frames."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchbench.data.provenance import exported_mask
from benchbench.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# ITU-R BT.601 luma: the weights PIL's "L" conversion uses, so grey output matches PIL.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)


def to_frame_images(images: np.ndarray | Sequence[np.ndarray], *, channels: int = 1,
                    size: int | None = None) -> list[np.ndarray]:
    """Pipeline outputs -> HxWx3 uint8 arrays in the format of real FLYD frames.

    ``images``: (B, H, W, C) floats in [0, 1] (diffusers ``output_type="np"``) or uint8,
    C = 1 or 3. ``channels=1`` gives grey content (BT.601 luma) repeated on 3 channels,
    as in the real 8-bit JPEGs; ``channels=3`` keeps the model's colours. ``size``
    resizes (bicubic) to a ``size`` x ``size`` frame when the model's resolution differs.
    """
    from PIL import Image

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    out = []
    for img in images:
        arr = np.asarray(img)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.dtype != np.uint8:
            arr = np.clip(np.rint(arr.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
        if arr.shape[2] == 1:
            arr = np.repeat(arr, 3, axis=2)
        elif channels == 1:
            grey = np.clip(np.rint(arr[:, :, :3].astype(np.float64) @ _LUMA), 0, 255).astype(np.uint8)
            arr = np.repeat(grey[:, :, None], 3, axis=2)
        else:
            arr = arr[:, :, :3]
        if size is not None and (arr.shape[0] != size or arr.shape[1] != size):
            arr = np.asarray(Image.fromarray(arr).resize((size, size), Image.Resampling.BICUBIC))
        out.append(np.ascontiguousarray(arr))
    return out


def list_images(folder: str | os.PathLike, *, field: str = "data") -> list[Path]:
    """Image files directly in ``folder``, sorted by name; a user error when there are none."""
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"image folder not found: {root}", field=field, fix="give an existing folder of images")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {root}", field=field,
                        fix="put training images in that folder")
    return files


def class_images(root: str | os.PathLike, classes: Sequence[str], *, field: str = "--data") -> dict[str, list[Path]]:
    """The images of each class folder of a Classes-layout folder (``root/crack``, ``root/sane``: what
    ``bench data export`` writes); a user error naming ``field`` when a folder is missing or empty."""
    folder = Path(root)
    if not folder.is_dir():
        raise UserError(f"data folder not found: {folder}", field=field,
                        fix="export the training frames: bench data export MATRIX [--fold I] --split train")
    return {label: list_images(folder / label, field=f"{field} ({label}/)") for label in classes}


def load_training_image(path: str | os.PathLike, size: int, channels: int) -> np.ndarray:
    """One image as a CxHxW float32 array in [-1, 1]: shorter side resized to ``size``, centre crop."""
    from PIL import Image

    with Image.open(path) as im:
        im = _square(im.convert("L" if channels == 1 else "RGB"), size, Image.Resampling.BICUBIC)
        arr = np.asarray(im, dtype=np.float32) / 127.5 - 1.0
    if arr.ndim == 2:
        arr = arr[None]
    else:
        arr = arr.transpose(2, 0, 1)
    return np.ascontiguousarray(arr)


def training_mask(image: str | os.PathLike, size: int) -> np.ndarray:
    """The crack mask of an exported training image (``bench data export`` writes ``masks/<stem>.png`` beside
    ``crack/``) as a 1xHxW float32 array of 0/1, resized and cropped as :func:`load_training_image` does its
    image; all zeros for a frame without a mask (a sane one). Resized by area, then any covered pixel counts:
    a crack one pixel wide at native scale must not vanish at ``size``."""
    from PIL import Image

    path = exported_mask(Path(image).parent.parent, Path(image).name)
    if not path.is_file():
        return np.zeros((1, size, size), dtype=np.float32)
    with Image.open(path) as im:
        return square_mask(np.asarray(im.convert("L")) > 0, size)[None].astype(np.float32)


def require_training_masks(images: Sequence[str | os.PathLike], *, field: str) -> None:
    """A user error naming ``field`` unless some of these exported cracked images has a crack mask beside it
    (``masks/``): what a mask-conditioned model trains on."""
    if not any(training_mask(p, 8).any() for p in images):
        folder = Path(images[0]).parent if images else "the folder"
        raise UserError(f"no crack masks beside {folder}", field=field,
                        fix="export a masks-layout dataset (FLYD-S) with bench data export, which writes masks/")


def square_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """A crack mask (H x W bool) as the ``size`` x ``size`` bool mask of the training image made from its frame
    (:func:`load_training_image`'s resize and centre crop), by area: any covered pixel counts, so a crack one
    pixel wide at native scale does not vanish at ``size``. A mask-conditioned generator reads the fold's masks
    with it at generation time exactly as its training read them."""
    from PIL import Image

    im = Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255)
    return np.asarray(_square(im, size, Image.Resampling.BOX)) > 0


def _square(im, size: int, resample):
    """Shorter side resized to ``size``, then the centre ``size`` x ``size`` crop."""
    w, h = im.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    im = im.resize((nw, nh), resample)
    left, top = (nw - size) // 2, (nh - size) // 2
    return im.crop((left, top, left + size, top + size))
