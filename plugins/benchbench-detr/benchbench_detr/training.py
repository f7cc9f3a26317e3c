"""Training loop and inference for transformers DETR models (imports torch; loaded lazily).

The loop follows the RT-DETR recipe scaled down: AdamW with a separate backbone learning
rate, gradient clipping, linear warmup then cosine (or step) decay, early stopping on the
validation loss with the best weights restored. Labels go through the variant's image
processor (COCO annotations in, normalised cxcywh ``boxes`` + ``class_labels`` out), so
each variant gets exactly the target format its loss expects.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from benchbench.api import Box, CellContext, Frame

from benchbench_detr.params import DetrParams
from benchbench_detr.variants import LABEL2ID, post_process


@dataclass(frozen=True)
class Sample:
    image: np.ndarray          # HxWx3 uint8
    boxes: np.ndarray          # (n, 4) pixel x, y, w, h


@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"train_loss": self.train_loss, "val_loss": self.val_loss, "best_epoch": self.best_epoch,
                "epochs_run": len(self.train_loss), "stopped_early": self.stopped_early,
                "seconds": round(self.seconds, 3)}


@contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (None: unchanged), restoring the old count after.

    On a busy or shared CPU, OpenMP threads that spin-wait for each other can make two
    threads several times slower than one; ``threads: 1`` is then the fast setting.
    """
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def to_samples(frames: Sequence[Frame]) -> list[Sample]:
    """Frames with known boxes (``boxes is None`` means unknown: not trainable, skipped)."""
    out = []
    for f in frames:
        if f.boxes is None:
            continue
        boxes = np.array([[b.x, b.y, b.w, b.h] for b in f.boxes], dtype=np.float32).reshape(-1, 4)
        out.append(Sample(_writable(f.load()), boxes))
    return out


def _writable(img: np.ndarray) -> np.ndarray:
    # Frames are read-only (shared, cached); the processor's torch.from_numpy warns on those.
    return img if img.flags.writeable else img.copy()


def encode(processor: Any, samples: Sequence[Sample], flips: Sequence[bool], device: str) -> dict[str, Any]:
    """Processor inputs + labels for one batch; a flip mirrors the image and its boxes."""
    images, annotations = [], []
    for i, (s, flip) in enumerate(zip(samples, flips, strict=True)):
        img, boxes = s.image, s.boxes.copy()
        if flip:
            img = np.ascontiguousarray(img[:, ::-1])
            boxes[:, 0] = img.shape[1] - boxes[:, 0] - boxes[:, 2]
        images.append(img)
        annotations.append({"image_id": i, "annotations": [
            {"bbox": [float(v) for v in b], "category_id": LABEL2ID["crack"], "area": float(b[2] * b[3]),
             "iscrowd": 0} for b in boxes]})
    enc = processor(images=images, annotations=annotations, return_tensors="pt")
    batch = {k: enc[k].to(device) for k in ("pixel_values", "pixel_mask") if k in enc}
    batch["labels"] = [{"class_labels": t["class_labels"].to(device), "boxes": t["boxes"].to(device)}
                       for t in enc["labels"]]
    return batch


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def param_groups(model: torch.nn.Module, p: DetrParams) -> list[dict[str, Any]]:
    """Backbone vs rest (own learning rates); no weight decay on biases and norm scales."""
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        key = (".backbone." in f".{name}", param.ndim > 1)
        groups.setdefault(key, []).append(param)
    return [{"params": params, "lr": p.backbone_lr() if backbone else p.lr,
             "weight_decay": p.weight_decay if decay else 0.0}
            for (backbone, decay), params in sorted(groups.items())]


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """Linear warmup, then cosine to 1% or a x0.1 step at two thirds of training."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    if schedule == "step":
        return 0.1 if progress >= 2 / 3 else 1.0
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def val_loss(model: torch.nn.Module, batches: Sequence[dict[str, Any]]) -> float:
    model.eval()
    total, n = 0.0, 0
    for b in batches:
        out = model(**b)
        k = b["pixel_values"].shape[0]
        total, n = total + float(out.loss) * k, n + k
    return total / max(n, 1)


def train(model: torch.nn.Module, processor: Any, train_set: list[Sample], val_set: list[Sample],
          p: DetrParams, ctx: CellContext, device: str) -> History:
    """Train in place; the weights of the best validation epoch are restored at the end."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    gen = torch.Generator().manual_seed(int(ctx.seed))
    optim = torch.optim.AdamW(param_groups(model, p), lr=p.lr, weight_decay=p.weight_decay)
    steps_per_epoch = math.ceil(len(train_set) / p.batch)
    total = steps_per_epoch * p.epochs
    warmup = min(round(p.warmup_epochs * steps_per_epoch), total)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: lr_factor(s, total, warmup, p.schedule))
    val_batches = [encode(processor, val_set[s], [False] * (s.stop - s.start), device)
                   for s in _chunks(len(val_set), p.batch)]
    hist, best, best_state, bad = History(), math.inf, None, 0
    checkpoints = set(ctx.checkpoints(p.epochs))
    n_queries = int(model.config.num_queries)
    t0 = time.perf_counter()
    columns = (TextColumn("[bold]detr {task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
               TimeRemainingColumn())
    with Progress(*columns, disable=ctx.quiet, transient=True) as bar:
        task = bar.add_task(f"{p.variant} fit", total=p.epochs, info="")
        for epoch in range(p.epochs):
            model.train()
            order = torch.randperm(len(train_set), generator=gen).tolist()
            flips = (torch.rand(len(train_set), generator=gen) < p.hflip).tolist()
            running, seen = 0.0, 0
            for s in _chunks(len(order), p.batch):
                idx = order[s]
                batch = encode(processor, [train_set[i] for i in idx], [flips[i] for i in idx], device)
                loss = model(**batch).loss
                if not torch.isfinite(loss.detach()):
                    raise RuntimeError(f"detr: non-finite training loss at epoch {epoch + 1} — "
                                       f"lower lr (now {p.lr}) or raise grad_clip")
                optim.zero_grad(set_to_none=True)
                loss.backward()
                if p.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), p.grad_clip)
                optim.step()
                sched.step()
                running, seen = running + loss.detach().item() * len(idx), seen + len(idx)
            hist.train_loss.append(running / max(seen, 1))
            info = f"loss {hist.train_loss[-1]:.3f}"
            if val_batches:
                hist.val_loss.append(val_loss(model, val_batches))
                info += f" val {hist.val_loss[-1]:.3f}"
                if hist.val_loss[-1] < best:
                    best, bad, hist.best_epoch = hist.val_loss[-1], 0, epoch + 1
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    bad += 1
            if epoch + 1 in checkpoints:  # the learning curve (matrix metrics.curve): the harness scores this epoch
                # eval mode draws no random number, and the next epoch sets train mode again
                ctx.checkpoint(lambda frames: predict(model, processor, frames, p, device, n_queries),
                               steps=(epoch + 1) * steps_per_epoch, epochs=epoch + 1)
            ctx.report(f"epoch {epoch + 1}/{p.epochs}", (epoch + 1) / p.epochs)
            bar.update(task, advance=1, info=info)
            if p.patience and bad >= p.patience:
                hist.stopped_early = True
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    hist.seconds = time.perf_counter() - t0
    return hist


@torch.no_grad()
def predict(model: torch.nn.Module, processor: Any, frames: Sequence[Frame], p: DetrParams, device: str,
            n_queries: int) -> list[list[Box]]:
    """Scored pixel-xywh boxes per frame, clipped to the frame, best first."""
    model.eval()
    results: list[list[Box]] = []
    for s in _chunks(len(frames), p.batch):
        images = [_writable(f.load()) for f in frames[s]]
        enc = processor(images=images, return_tensors="pt")
        out = model(**{k: enc[k].to(device) for k in ("pixel_values", "pixel_mask") if k in enc})
        out.logits, out.pred_boxes = out.logits.float().cpu(), out.pred_boxes.float().cpu()
        sizes = [(int(im.shape[0]), int(im.shape[1])) for im in images]
        for det, (h, w) in zip(post_process(p, processor, out, sizes, n_queries), sizes, strict=True):
            results.append(_to_boxes(det, w, h))
    return results


def _to_boxes(det: dict[str, Any], w: int, h: int) -> list[Box]:
    scores = det["scores"].clamp(0, 1).tolist()
    xyxy = det["boxes"].clone()
    xyxy[:, 0::2] = xyxy[:, 0::2].clamp(0, w)
    xyxy[:, 1::2] = xyxy[:, 1::2].clamp(0, h)
    boxes = [Box.from_xyxy(*b, score=sc) for b, sc in zip(xyxy.tolist(), scores, strict=True)
             if b[2] > b[0] and b[3] > b[1]]
    return sorted(boxes, key=lambda b: -b.score)
