"""Training and inference on benchbench frames (imports torch and detectron2: loaded lazily).

Frames become detectron2 inputs once, resized to ``imgsz`` x ``imgsz`` (BGR, as the configs
expect); boxes are scaled with them. For Mask R-CNN each box gets an instance mask: the frame's
crack-mask pixels inside that box (``benchbench.api.frame_mask``: FLYD-S ``masks`` layout,
simulated and physics frames), or the filled box where a frame has no mask (a teacher-labelled
synthetic frame). Predictions are mapped back to each frame's own size by detectron2's
postprocessing (the ``height``/``width`` of each input).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from benchbench.api import Box, CellContext, Frame, frame_mask

from benchbench_detectron2.params import D2Params


@dataclass(frozen=True)
class Sample:
    image: torch.Tensor          # 3 x S x S float, BGR
    boxes: torch.Tensor          # n x 4 xyxy in resized pixels
    masks: torch.Tensor | None   # n x S x S bool (Mask R-CNN only)
    true_mask: bool              # the masks come from the frame's crack mask, not its boxes


def resize_image(img: np.ndarray, size: int) -> torch.Tensor:
    """HxWx3 RGB uint8 -> 3 x size x size float BGR."""
    from PIL import Image

    small = np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR))
    return torch.from_numpy(np.ascontiguousarray(small[:, :, ::-1].transpose(2, 0, 1))).float()


def instance_masks(frame: Frame, size: int) -> tuple[torch.Tensor, bool]:
    """One mask per box at ``size`` px: the crack pixels inside the box, else the filled box."""
    h, w = frame.height, frame.width
    mask = frame_mask(frame)
    rows = (np.arange(h) + 0.5)[:, None]  # a pixel is in a box when its centre is
    cols = (np.arange(w) + 0.5)[None, :]
    out = []
    found = mask is not None and bool(frame.boxes)
    for b in frame.boxes or ():
        inside = (rows >= b.y) & (rows <= b.y + b.h) & (cols >= b.x) & (cols <= b.x + b.w)
        crack = inside & mask if mask is not None else inside
        found = found and bool(crack.any())
        out.append(crack if crack.any() else inside)
    if not out:
        return torch.zeros((0, size, size), dtype=torch.bool), found
    stack = torch.from_numpy(np.stack(out)).float()[None]
    # area resampling then "any coverage": a 2-px crack shrunk to 128 px stays a connected line
    small = torch.nn.functional.interpolate(stack, size=(size, size), mode="area")[0] > 0
    return small, found


def to_samples(frames: Sequence[Frame], p: D2Params) -> list[Sample]:
    """Frames with known boxes (``boxes is None`` means unknown: not trainable, skipped)."""
    out = []
    for f in frames:
        if f.boxes is None:
            continue
        sx, sy = p.imgsz / f.width, p.imgsz / f.height
        boxes = torch.tensor([[b.x * sx, b.y * sy, (b.x + b.w) * sx, (b.y + b.h) * sy] for b in f.boxes],
                             dtype=torch.float32).reshape(-1, 4)
        masks, true_mask = instance_masks(f, p.imgsz) if p.model == "mask_rcnn" else (None, False)
        out.append(Sample(resize_image(f.load(), p.imgsz), boxes, masks, true_mask))
    return out


def model_input(s: Sample, flip: bool) -> dict[str, Any]:
    """The detectron2 training input of a sample, mirrored when ``flip``."""
    from detectron2.structures import BitMasks, Boxes, Instances

    size = s.image.shape[-1]
    image, boxes, masks = s.image, s.boxes, s.masks
    if flip:
        image = image.flip(-1)
        boxes = torch.stack([size - boxes[:, 2], boxes[:, 1], size - boxes[:, 0], boxes[:, 3]], dim=1)
        masks = None if masks is None else masks.flip(-1)
    inst = Instances((size, size), gt_boxes=Boxes(boxes), gt_classes=torch.zeros(len(boxes), dtype=torch.int64))
    if masks is not None:
        inst.gt_masks = BitMasks(masks)
    return {"image": image, "instances": inst, "height": size, "width": size}


def solver_config(cfg: Any, p: D2Params, total: int, per_epoch: int) -> Any:
    """``cfg`` with detectron2's solver set for ``total`` steps: warmup, then x0.1 at 2/3 and 8/9, or cosine."""
    cfg = cfg.clone()
    cfg.defrost()
    s = cfg.SOLVER
    s.BASE_LR, s.WEIGHT_DECAY, s.IMS_PER_BATCH, s.MAX_ITER = p.lr, p.weight_decay, p.batch, max(total, 1)
    s.WARMUP_ITERS = min(round(p.warmup_epochs * per_epoch), total)
    s.STEPS = tuple(sorted({k for k in (round(total * 2 / 3), round(total * 8 / 9)) if 0 < k < total}))
    s.LR_SCHEDULER_NAME = "WarmupMultiStepLR" if p.schedule == "step" else "WarmupCosineLR"
    cfg.freeze()
    return cfg


def train(model: torch.nn.Module, cfg: Any, samples: list[Sample], p: D2Params, ctx: CellContext) -> dict[str, Any]:
    """Train in place for ``p.epochs`` epochs; returns the loss history."""
    from detectron2.solver import build_lr_scheduler, build_optimizer
    from detectron2.utils.events import EventStorage

    gen = torch.Generator().manual_seed(int(ctx.seed))
    optim = build_optimizer(cfg, model)
    sched = build_lr_scheduler(cfg, optim)
    history: list[float] = []
    start = time.perf_counter()
    model.train()
    with EventStorage(0) as storage:  # detectron2's heads log to the current storage; training needs one
        for epoch in range(p.epochs):
            order = torch.randperm(len(samples), generator=gen).tolist()
            flips = (torch.rand(len(samples), generator=gen) < p.hflip).tolist()
            running = 0.0
            for first in range(0, len(order), p.batch):
                idx = order[first:first + p.batch]
                losses = model([model_input(samples[i], flips[i]) for i in idx])
                loss = sum(losses.values())
                if not torch.isfinite(loss.detach()):
                    raise RuntimeError(f"detectron2: non-finite training loss at epoch {epoch + 1} "
                                       f"({ {k: float(v) for k, v in losses.items()} }) — lower lr (now {p.lr})")
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                sched.step()
                storage.step()
                running += float(loss.detach()) * len(idx)
            history.append(running / len(samples))
            ctx.report(f"fit epoch {epoch + 1}/{p.epochs}", (epoch + 1) / p.epochs)
    model.eval()
    return {"train_loss": [round(x, 5) for x in history], "epochs_run": p.epochs,
            "steps": p.epochs * math.ceil(len(samples) / p.batch), "seconds": round(time.perf_counter() - start, 2)}


@torch.no_grad()
def predict(model: torch.nn.Module, frames: Sequence[Frame], p: D2Params) -> list[list[Box]]:
    """Scored pixel-xywh boxes per frame, in the frame's own pixels, best first."""
    model.eval()
    out: list[list[Box]] = []
    for first in range(0, len(frames), p.batch):
        chunk = frames[first:first + p.batch]
        inputs = [{"image": resize_image(f.load(), p.imgsz), "height": f.height, "width": f.width} for f in chunk]
        for f, result in zip(chunk, model(inputs), strict=True):
            inst = result["instances"].to("cpu")
            xyxy = inst.pred_boxes.tensor.clone()
            xyxy[:, 0::2] = xyxy[:, 0::2].clamp(0, f.width)
            xyxy[:, 1::2] = xyxy[:, 1::2].clamp(0, f.height)
            boxes = [Box.from_xyxy(*b, score=min(max(s, 0.0), 1.0))
                     for b, s in zip(xyxy.tolist(), inst.scores.tolist(), strict=True) if b[2] > b[0] and b[3] > b[1]]
            out.append(sorted(boxes, key=lambda b: -b.score))
    return out
