"""Extractors from weights the user already has on disk: ``inception`` (torchvision Inception-v3
state dict, the FID network) and ``dinov2`` (a transformers DINOv2 folder, as in FD-DINOv2).

Nothing is downloaded: the path must exist (checked when the matrix is validated), and
transformers is told ``local_files_only``. torch/torchvision/transformers are imported on first use.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.errors import MissingDependency, UserError
from benchbench.frames import FrameSet
from benchbench.hashing import dir_fingerprint, file_sha256, sha256_json
from benchbench.paths import require_local_path

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BATCH = 32


def _import(module: str, purpose: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(module.split(".")[0], "torch" if module.startswith("torch") else None,
                                purpose) from None


def _rgb_batches(frames: FrameSet, size: int):
    """ImageNet-normalised ``(b, 3, size, size)`` tensors (grey thermograms repeated on 3 channels)."""
    torch = _import("torch", "pretrained feature extractors")
    from PIL import Image  # PIL: heavy, off the start-up path

    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    for lo in range(0, len(frames), BATCH):
        imgs = [np.asarray(Image.fromarray(f.load()).resize((size, size), Image.BILINEAR), np.float32) / 255.0
                for f in frames[lo:lo + BATCH]]
        x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2)
        yield (x - mean) / std


def _embed(model: Any, frames: FrameSet, size: int, head: Any) -> np.ndarray:
    torch = _import("torch", "pretrained feature extractors")
    out = []
    with torch.no_grad():
        for x in _rgb_batches(frames, size):
            out.append(head(model(x)).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


class InceptionExtractor:
    """Inception-v3 pool features (2048-d) from a local torchvision state dict (.pth)."""

    name = "inception"
    version = "1"

    def __init__(self, weights: str):
        self.weights = require_local_path(weights, field="scores.extractors.weights", what="Inception-v3 weights")
        if not self.weights.is_file():
            raise UserError("expected the Inception-v3 state dict file (.pth), got a folder",
                            file=self.weights, field="scores.extractors.weights",
                            fix="point weights at e.g. inception_v3_google-0cc3c7bd.pth")
        self._model: Any = None

    def fingerprint(self) -> str:
        return sha256_json({"extractor": self.name, "version": self.version, "weights": file_sha256(self.weights)})

    def _load(self) -> Any:
        torch = _import("torch", "the inception extractor")
        models = _import("torchvision.models", "the inception extractor")
        # transform_input=True: the Google weights expect inputs in [-1, 1], torchvision converts.
        model = models.inception_v3(weights=None, aux_logits=True, transform_input=True, init_weights=False)
        state = torch.load(self.weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        model.fc = torch.nn.Identity()
        return model.eval()

    def embed(self, frames: FrameSet) -> np.ndarray:
        if self._model is None:
            self._model = self._load()
        return _embed(self._model, frames, 299, lambda out: out)


class Dinov2Extractor:
    """DINOv2 CLS-token features from a local transformers folder (config.json + weights)."""

    name = "dinov2"
    version = "1"

    def __init__(self, path: str, size: int | None = None):
        self.path = require_local_path(path, field="scores.extractors.path", what="DINOv2 model folder")
        if not (Path(self.path) / "config.json").is_file():
            raise UserError("no config.json in the DINOv2 folder", file=self.path, field="scores.extractors.path",
                            fix="give the folder written by save_pretrained (config.json + model weights)")
        self.size = size
        self._model: Any = None

    def fingerprint(self) -> str:
        return sha256_json({"extractor": self.name, "version": self.version, "size": self.size,
                            "weights": dir_fingerprint(self.path)})

    def embed(self, frames: FrameSet) -> np.ndarray:
        if self._model is None:
            transformers = _import("transformers", "the dinov2 extractor")
            self._model = transformers.AutoModel.from_pretrained(str(self.path), local_files_only=True).eval()
        size = self.size or int(getattr(self._model.config, "image_size", 224))
        return _embed(self._model, frames, size, lambda out: out.last_hidden_state[:, 0])
