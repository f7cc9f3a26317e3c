"""Extractor ``cnn``: a small CNN trained in-project to tell crack from sane on the run's real training
frames; its features are the pooled activations before the classifier.

No pretrained weights exist for thermograms, and ImageNet features see a laser spot, not a crack:
a network that had to separate the two classes on real frames embeds exactly the cues a detector
needs. Needs torch (``pip install 'benchbench-ndt[torch]'``), imported when it is fitted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchbench.analysis.genscore.features import grey_stack
from benchbench.errors import MissingDependency, UserError
from benchbench.frames import FrameSet
from benchbench.hashing import sha256_json


def _torch() -> Any:
    try:
        import torch  # torch: never at import time (the 'cnn' extra)
    except ImportError:
        raise MissingDependency("torch", "torch", "the 'cnn' feature extractor") from None
    return torch


def _network(torch: Any, width: int) -> Any:
    nn = torch.nn
    w = width
    # Max pooling at the end: a crack is a thin line anywhere in the frame, and averaging dilutes it
    # (with average pooling the net stays at chance on simulated frames; with max it reaches ~0.9).
    return nn.Sequential(
        nn.Conv2d(2, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(),
        nn.Linear(4 * w, 2),
    )


def _inputs(frames: FrameSet, size: int) -> np.ndarray:
    """Two channels per frame: grey levels and the horizontal gradient, each standardised per frame.

    Standardising removes the laser's brightness, which varies with the specimen, and the gradient
    channel is the physics prior: a near-vertical crack is a step across the scan direction.
    """
    x = grey_stack(frames, size)
    gx = np.zeros_like(x)
    gx[:, :, 1:] = np.diff(x, axis=2)
    chans = [(c - c.mean((1, 2), keepdims=True)) / (c.std((1, 2), keepdims=True) + 1e-6) for c in (x, gx)]
    return np.stack(chans, axis=1).astype(np.float32)


class CrackCNN:
    name = "cnn"
    version = "1"
    standardize = True  # activation scales differ per channel; KID's cubic kernel would follow the largest

    def __init__(self, size: int = 48, width: int = 8, epochs: int = 12, lr: float = 3e-3, batch: int = 32):
        if size < 8 or width < 1 or epochs < 1:
            raise UserError(f"cnn needs size >= 8, width >= 1, epochs >= 1 (got {size}, {width}, {epochs})",
                            field="scores.extractors", fix="e.g. {name: cnn, size: 48, width: 8, epochs: 12}")
        self.size, self.width, self.epochs, self.lr, self.batch = int(size), int(width), int(epochs), float(lr), \
            int(batch)
        self.model: Any = None
        self.trained_on: list[str] = []
        self.train_accuracy: float | None = None

    def fingerprint(self) -> str:
        # The training frames enter the feature cache key separately (the scorer adds their manifest hash).
        return sha256_json({"extractor": self.name, "version": self.version, "size": self.size,
                            "width": self.width, "epochs": self.epochs, "lr": self.lr, "batch": self.batch})

    def fit(self, train: FrameSet, seed: int = 0) -> None:
        torch = _torch()
        labels = np.array([f.label == "crack" for f in train], dtype=np.int64)
        if len(set(labels.tolist())) < 2:
            raise UserError("the cnn extractor needs crack and sane training frames", field="scores.extractors",
                            fix="use the physics extractor for a one-class dataset")
        torch.manual_seed(seed)
        x = torch.from_numpy(_inputs(train, self.size))
        y = torch.from_numpy(labels)
        model = _network(torch, self.width)
        opt = torch.optim.Adam(model.parameters(), lr=self.lr)
        # Class weights: FLYD has about 40% cracked frames, and a majority-class net embeds nothing.
        weight = torch.tensor(len(y) / (2.0 * np.bincount(labels, minlength=2)), dtype=torch.float32)
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
        gen = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(self.epochs):
            for idx in torch.randperm(len(y), generator=gen).split(self.batch):
                opt.zero_grad()
                loss_fn(model(x[idx]), y[idx]).backward()
                opt.step()
        model.eval()
        with torch.no_grad():
            self.train_accuracy = float((model(x).argmax(1) == y).float().mean())
        self.model = model
        self.trained_on = [f.stem for f in train]

    def embed(self, frames: FrameSet) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("the cnn extractor must be fitted on the run's real training frames first")
        torch = _torch()
        body = self.model[:-1]  # everything but the classifier
        out = []
        with torch.no_grad():
            for lo in range(0, len(frames), 256):
                x = torch.from_numpy(_inputs(frames[lo:lo + 256], self.size))
                out.append(body(x).numpy())
        return np.concatenate(out) if out else np.zeros((0, 4 * self.width), np.float32)
