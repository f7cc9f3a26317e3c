"""BbClassDetector: a small torch network — replace the network with yours, keep how it talks to benchbench.

As generated it is a crack heat-map network: a few convolutions score every pixel for "inside a
crack box", and predict reports the strongest vertical ridges of that map as boxes of the
typical crack size. What it shows, in the order a torch detector needs it:

1. frames -> training targets (:func:`targets`): the pixels as a float array, the boxes as a
   mask (1 inside a crack box, 0 elsewhere); a frame whose boxes are unknown (``None``) is
   skipped, a sane one (``()``) is all background. Frames may differ in size: the network is
   fully convolutional and each frame is its own forward pass;
2. the device (:func:`benchbench.api.torch_device`): the detector's ``device`` parameter when
   given, else ``ctx.device`` ("auto" = CUDA when visible);
3. the training budget: ``trains_by_steps = True``, ``ctx.epochs_for`` (equal epochs or equal
   optimizer steps, as the matrix asks) and ``ctx.record_budget`` (what ran, per cell);
4. state in ``ctx.work_dir``: the weights with ``save_state`` (safetensors, never pickle), the
   rest as JSON; ``predict`` of an unfitted instance loads them, as a resumed run does.

torch is imported inside the methods: ``bench`` imports every plugin at start and must stay fast.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from benchbench.api import (
    Box,
    CellContext,
    Frame,
    FrameSet,
    UserError,
    load_state,
    save_state,
    seed_everything,
    torch_device,
    torch_generator,
)

from bbpackage import __version__

WEIGHTS_FILE = "model.safetensors"
META_FILE = "model.json"


class BbClassDetector:
    """Crack heat-map network (torch): learns which pixels lie in a crack box, reports boxes on its ridges."""

    name = "bbname"
    version = __version__
    trains_by_steps = True  # trains `ctx.epochs_for(...)` epochs: the matrix's equal-steps budget applies

    def __init__(self, epochs: int = 30, batch: int = 8, lr: float = 0.01, width: int = 8, max_boxes: int = 3,
                 device: str | None = None) -> None:
        # The factory validates cheaply and fails with a one-line UserError naming the field; no torch here.
        for field, value in (("epochs", epochs), ("batch", batch), ("width", width), ("max_boxes", max_boxes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"{field} must be an integer >= 1, got {value!r}", field=field)
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not lr > 0:
            raise UserError(f"lr must be a number > 0, got {lr!r}", field="lr")
        if device is not None and not isinstance(device, str):
            raise UserError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}", field="device")
        self.epochs, self.batch, self.lr, self.width = epochs, batch, float(lr), width
        self.max_boxes, self.device = max_boxes, device
        self._model: Any = None
        self._meta: dict[str, Any] | None = None

    # ------------------------------------------------------------------ protocol
    def params(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "batch": self.batch, "lr": self.lr, "width": self.width,
                "max_boxes": self.max_boxes, "device": self.device}

    def fit(self, train: FrameSet, val: FrameSet | None, ctx: CellContext) -> None:
        import torch

        seed_everything(ctx.seed)  # after `import torch`: it seeds torch only when torch is loaded
        frames = [f for f in train if f.boxes is not None]  # boxes None = unknown: cannot learn from them
        boxes = [b for f in frames for b in f.boxes or ()]
        if not boxes:
            raise UserError("the training frames carry no crack box to learn from", field="detectors.bbname",
                            fix="train on frames with boxes (cracked frames labelled)")
        device = torch_device(self.device or ctx.device)
        model = network(self.width).to(device)
        data = [tuple(torch.from_numpy(a).to(device) for a in targets(f)) for f in frames]
        # Crack pixels are a few per cent of a frame: weigh them up, or "no crack anywhere" wins.
        positive = sum(float(y.sum()) for _, y in data) / sum(y.numel() for _, y in data)
        weight = min((1 - positive) / max(positive, 1e-6), 50.0)
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(weight, device=device))
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
        order = torch_generator(ctx.seed)  # the shuffle depends on the seed only
        epochs = ctx.epochs_for(self.epochs, len(data))
        steps, history = 0, []
        model.train()
        for epoch in range(epochs):
            total = 0.0
            for batch in torch.randperm(len(data), generator=order).split(self.batch):
                optimizer.zero_grad()
                loss = sum(loss_fn(model(torch.stack([data[i][0] for i in same]))[:, 0],
                                   torch.stack([data[i][1] for i in same])) * len(same)
                           for same in _by_size(data, batch.tolist())) / len(batch)
                loss.backward()
                optimizer.step()
                steps += 1
                total += loss.item() * len(batch)
            history.append(round(total / len(data), 5))
            ctx.report(f"bbname fit epoch {epoch + 1}/{epochs}", (epoch + 1) / epochs)
        ctx.record_budget(epochs=epochs, steps=steps, images=epochs * len(data))

        meta = {"box_w": float(np.median([b.w for b in boxes])), "box_h": float(np.median([b.h for b in boxes])),
                "width": self.width, "n_train": len(data)}
        folder = _folder(ctx)
        save_state(model.state_dict(), folder / WEIGHTS_FILE)
        (folder / META_FILE).write_text(json.dumps(meta, indent=1))
        ctx.record("bbname", {**meta, "device": device, "train_loss": history})
        self._model, self._meta = model.eval(), meta

    def predict(self, frames: FrameSet, ctx: CellContext) -> list[list[Box]]:
        if len(frames) == 0:
            return []
        import torch

        model, meta = self._load(ctx)
        device = next(model.parameters()).device
        with torch.no_grad():
            return [self._boxes(torch.sigmoid(model(torch.from_numpy(pixels(f)).to(device)[None]))[0, 0], meta)
                    for f in frames]

    # ------------------------------------------------------------------ helpers
    def _load(self, ctx: CellContext) -> tuple[Any, dict[str, Any]]:
        if self._model is None:  # not fitted in this process: read what fit saved
            folder = _folder(ctx)
            if not (folder / META_FILE).exists():
                raise UserError(f"no trained model in {folder}", field="detectors.bbname", fix="run fit first")
            meta = json.loads((folder / META_FILE).read_text())
            device = torch_device(self.device or ctx.device)
            model = network(meta["width"]).to(device)
            model.load_state_dict(load_state(folder / WEIGHTS_FILE, device=device))
            self._model, self._meta = model.eval(), meta
        assert self._meta is not None
        return self._model, self._meta

    def _boxes(self, heat: Any, meta: dict[str, Any]) -> list[Box]:
        """Boxes of the learned size centred on the strongest vertical ridges of the heat map (H x W)."""
        import torch.nn.functional as F

        h, w = heat.shape
        bw, bh = min(meta["box_w"], w), min(meta["box_h"], h)
        tall, wide = _odd(bh), _odd(2 * bw)
        # Mean over a crack's height, then local maxima at least a box width apart.
        ridge = F.avg_pool2d(heat[None, None], (tall, 1), stride=1, padding=(tall // 2, 0))[0, 0]
        peaks = ridge == F.max_pool2d(ridge[None, None], (tall, wide), stride=1,
                                      padding=(tall // 2, wide // 2))[0, 0]
        scores = ridge[peaks]
        where = peaks.nonzero()
        out = []
        for k in scores.argsort(descending=True, stable=True)[: self.max_boxes].tolist():
            y, x = where[k].tolist()
            bx = float(np.clip(x + 0.5 - bw / 2, 0, w - bw))
            by = float(np.clip(y + 0.5 - bh / 2, 0, h - bh))
            out.append(Box(bx, by, float(bw), float(bh), score=float(scores[k])))
        return out


def network(width: int) -> Any:
    """Fully convolutional: one logit per pixel, any frame size. Replace with your model."""
    from torch import nn

    def conv(cin: int, cout: int, size: Any, dilation: int = 1) -> Any:
        # replicate, not zeros: a zero border would look like a crack's brightness step
        pad = tuple(dilation * (k // 2) for k in ((size, size) if isinstance(size, int) else size))
        return nn.Conv2d(cin, cout, size, padding=pad, dilation=dilation, padding_mode="replicate")

    return nn.Sequential(
        conv(1, width, 3), nn.ReLU(),
        conv(width, width, (9, 3)), nn.ReLU(),  # tall: cracks run vertically
        conv(width, width, 3, dilation=2), nn.ReLU(),
        nn.Conv2d(width, 1, 1),
    )


def pixels(frame: Frame) -> np.ndarray:
    """The network's input, 1 x H x W float32: log-brightness, standardised per frame, so a crack's
    step does not depend on how hot the laser spot is."""
    log = np.log1p(frame.load().astype(np.float32).mean(axis=2))
    return ((log - log.mean()) / (log.std() + 1e-6))[None]


def targets(frame: Frame) -> tuple[np.ndarray, np.ndarray]:
    """One training frame as (input 1 x H x W, target H x W): the target is 1 inside the frame's crack
    boxes and 0 elsewhere (a sane frame, ``boxes == ()``, is all 0). Frames with ``boxes is None``
    (cracked, box unknown) have no target: leave them out before calling this."""
    x = pixels(frame)
    mask = np.zeros(x.shape[1:], np.float32)
    for b in frame.boxes or ():
        # a box covers the pixels it touches: a 0.4-px-wide box still marks its column
        mask[int(b.y):math.ceil(b.y + b.h), int(b.x):math.ceil(b.x + b.w)] = 1.0
    return x, mask


def _by_size(data: list[tuple[Any, Any]], batch: list[int]) -> list[list[int]]:
    """The batch's frames grouped by size: frames of one size share a forward pass."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i in batch:
        groups.setdefault(tuple(data[i][0].shape), []).append(i)
    return list(groups.values())


def _odd(size: float) -> int:
    return max(1, round(size)) | 1


def _folder(ctx: CellContext) -> Path:
    folder = Path(ctx.work_dir) / "bbname"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
