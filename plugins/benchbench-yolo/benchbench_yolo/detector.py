"""The ``yolo`` detector: ultralytics training and prediction, offline and seeded.

Construction only checks parameters (no torch). ``fit`` exports the training frames as
a YOLO folder, trains with ultralytics and converts the chosen checkpoint to
``model.safetensors`` + ``model.json`` in ``ctx.work_dir/yolo``; ``predict`` always loads
those two files, so an instance that was fitted in this process and a fresh one pointed
at the same work_dir give identical boxes.
"""

from __future__ import annotations

import math
import re
import shutil
import time
from pathlib import Path
from typing import Any

import yaml
from benchbench.api import Box, CellContext, FrameSet, UserError, export_yolo, seed_everything

from benchbench_yolo import __version__
from benchbench_yolo.config import ModelSpec, default_train_args, resolve_model
from benchbench_yolo.offline import import_ultralytics

# Train arguments this class sets itself; train_args may not override them.
MANAGED_ARGS = frozenset({
    "model", "data", "epochs", "imgsz", "batch", "lr0", "optimizer", "patience", "device", "seed",
    "deterministic", "amp", "plots", "workers", "val", "save_dir", "project", "name", "exist_ok",
    "verbose", "resume", "conf", "iou", "max_det", "mode", "task", "save",
})
OPTIMIZERS = ("auto", "SGD", "Adam", "AdamW", "NAdam", "RAdam", "RMSprop", "Adamax", "MuSGD")
_DEVICE_RE = re.compile(r"^(cpu|auto|cuda(:\d+)?)$")
PREDICT_CHUNK = 32  # frames per ultralytics call: bounds memory; each frame is letterboxed on its own


class YoloDetector:
    """Ultralytics YOLO detector. See the plugin README for every parameter."""

    name = "yolo"
    version = __version__
    trains_by_steps = True  # honours the matrix's equal-steps budget through ctx.epochs_for

    def __init__(self, model: str = "yolov8n.yaml", epochs: int = 30, imgsz: int = 128, batch: int = 16,
                 lr: float | None = None, optimizer: str = "auto", patience: int = 50,
                 device: str | None = None, conf: float = 0.001, iou: float = 0.7, max_det: int = 100,
                 scale: str | None = None, width: float | None = None, depth: float | None = None,
                 train_args: dict[str, Any] | None = None, verbose: bool = False) -> None:
        self.spec: ModelSpec = resolve_model(model, scale=scale, width=width, depth=depth)
        self.model = model
        self.epochs = _int(epochs, "epochs", low=1)
        self.imgsz = _int(imgsz, "imgsz", low=32)
        if self.imgsz % 32:
            raise UserError(f"imgsz must be a multiple of 32 (the network stride), got {imgsz}", field="imgsz",
                            fix=f"use {32 * max(1, round(self.imgsz / 32))}")
        self.batch = _int(batch, "batch", low=1)
        self.patience = _int(patience, "patience", low=1)
        self.max_det = _int(max_det, "max_det", low=1)
        if lr is not None and not (isinstance(lr, int | float) and 0 < lr < 1):
            raise UserError(f"lr must be a number in (0, 1), got {lr!r}", field="lr")
        self.lr = None if lr is None else float(lr)
        if optimizer not in OPTIMIZERS:
            raise UserError(f"unknown optimizer {optimizer!r}", field="optimizer", fix=f"use one of {OPTIMIZERS}")
        # ultralytics' 'auto' ignores lr0; an explicit lr therefore means plain SGD, whose default lr0 it is.
        self.optimizer = "SGD" if (optimizer == "auto" and self.lr is not None) else optimizer
        self.conf = _unit(conf, "conf", closed=False)
        self.iou = _unit(iou, "iou", closed=True)
        if device is not None and not _DEVICE_RE.match(str(device)):
            raise UserError(f"device must be cpu, cuda, cuda:N or auto, got {device!r}", field="device")
        self.device = device
        self.train_args = dict(train_args or {})
        bad = sorted(set(self.train_args) - default_train_args()) + sorted(set(self.train_args) & MANAGED_ARGS)
        if bad:
            raise UserError(f"train_args: {bad[0]!r} is not an ultralytics train argument this plugin passes through",
                            field="train_args", fix="use the detector's own parameters (model, epochs, lr, ...) "
                            "or an ultralytics key such as mosaic, fliplr, close_mosaic")
        self.verbose = bool(verbose)
        self._effective: dict[str, Any] = {}
        self._predictor: Any = None
        self._predictor_dir: Path | None = None

    # ------------------------------------------------------------------ protocol
    def params(self) -> dict[str, Any]:
        """Effective hyper-parameters (after fit: what ultralytics actually used)."""
        out: dict[str, Any] = {
            "model": self.model,
            "model_kind": self.spec.kind,
            "epochs": self.epochs, "imgsz": self.imgsz, "batch": self.batch,
            "lr": self.lr if self.lr is not None else "auto", "optimizer": self.optimizer,
            "patience": self.patience, "device": self.device,  # None: the cell's device (after fit: the one used)
            "conf": self.conf, "iou": self.iou, "max_det": self.max_det,
            "train_args": self.train_args,
        }
        if self.spec.kind == "config" and self.spec.config is not None:
            depth, width, max_channels = self.spec.config["scales"]["custom"]
            out.update(scale=self.spec.scale or "default", depth=depth, width=width, max_channels=max_channels)
        out.update(self._effective)
        return out

    def fit(self, train: FrameSet, val: FrameSet | None, ctx: CellContext) -> None:
        root = _root(ctx)
        frames = train.filter(lambda f: f.boxes is not None)  # unknown boxes cannot be trained on
        if len(frames) == 0:
            raise UserError("no training frame has known boxes", field="detectors.yolo",
                            fix="give frames with boxes (crack frames labelled, sane frames with none)")
        val_frames = val.filter(lambda f: f.boxes is not None) if val is not None else None
        has_val = bool(val_frames is not None and len(val_frames) > 0)
        import_ultralytics(root / "config")
        from benchbench_yolo import engine

        seed_everything(ctx.seed)
        device = self._device(ctx)
        for stale in ("data", "train"):  # a re-fit must not see a previous fit's images or checkpoints
            shutil.rmtree(root / stale, ignore_errors=True)
        ctx.report("yolo export", 0.0)
        data_yaml = export_yolo(frames, root / "data", val=val_frames if has_val else None)
        model_arg = self._model_file(root)
        epochs = ctx.epochs_for(self.epochs, len(frames))
        overrides = {
            **self.train_args,
            "model": model_arg, "data": str(data_yaml), "epochs": epochs, "imgsz": self.imgsz,
            "batch": self.batch, "optimizer": self.optimizer, "patience": self.patience,
            "device": _ultralytics_device(device), "seed": int(ctx.seed), "deterministic": True,
            "amp": False, "plots": False, "val": has_val, "save_dir": str(root / "train"),
            "exist_ok": True, "verbose": self.verbose,
            "workers": 0 if device == "cpu" else 2,  # CPU: loading in-process is faster and deterministic
        }
        # ultralytics accumulates gradients up to a nominal batch of 64 by default; on a few hundred
        # frames that leaves a handful of optimizer steps per epoch, so step on every batch instead.
        overrides.setdefault("nbs", self.batch)
        if self.lr is not None:
            overrides["lr0"] = self.lr
        # ultralytics keeps the last partial batch and steps the optimizer every round(nbs / batch) batches
        accumulate = max(round(int(overrides["nbs"]) / self.batch), 1)
        steps_per_epoch = math.ceil(math.ceil(len(frames) / self.batch) / accumulate)
        checkpoints = set(ctx.checkpoints(epochs))

        def on_epoch(epoch: int, total: int) -> None:
            ctx.report(f"fit epoch {epoch}/{total}", epoch / total)

        def on_trained_epoch(epoch: int, snapshot: Any) -> None:
            if epoch in checkpoints:  # the learning curve (matrix metrics.curve): the harness scores this epoch
                predictor = engine.make_predictor(snapshot(), self._predictor_args(device, root))
                ctx.checkpoint(lambda fs: self._predict_with(predictor, fs, ctx), steps=epoch * steps_per_epoch,
                               epochs=epoch)

        start = time.perf_counter()
        with engine.quiet(not self.verbose):
            trainer = engine.train(overrides, validate=has_val, on_epoch=on_epoch,
                                   on_trained_epoch=on_trained_epoch if checkpoints else None)
        seconds = time.perf_counter() - start
        weights = trainer.best if trainer.best.exists() else trainer.last
        if not weights.exists():
            raise RuntimeError(f"ultralytics finished without writing a checkpoint in {trainer.wdir}")
        engine.export_weights(weights, root)
        epochs_run = trainer.epoch + 1
        ctx.record_budget(epochs=epochs_run, steps=epochs_run * steps_per_epoch, images=epochs_run * len(frames))
        self._effective = {
            "device": device, "optimizer": str(trainer.args.optimizer), "lr": float(trainer.args.lr0),
            "epochs_run": epochs_run, "weights": weights.name,
            # best.pt is the best validated epoch; without validation every epoch is kept, so the last.
            "weights_epoch": int(trainer.stopper.best_epoch) if has_val else epochs_run,
            "validated": has_val, "nbs": int(trainer.args.nbs), "ultralytics": _ultralytics_version(),
        }
        ctx.record("yolo", {**self._effective, "train_frames": len(frames),
                            "val_frames": len(val_frames) if has_val else 0,
                            "fit_seconds": round(seconds, 2),
                            "seconds_per_epoch": round(seconds / max(epochs_run, 1), 3)})
        self._predictor = None  # predict reloads from disk: same path as a resumed run

    def predict(self, frames: FrameSet, ctx: CellContext) -> list[list[Box]]:
        if len(frames) == 0:
            return []
        return self._predict_with(self._load(ctx), frames, ctx)

    def _predict_with(self, predictor: Any, frames: FrameSet, ctx: CellContext) -> list[list[Box]]:
        from benchbench_yolo import engine

        out: list[list[Box]] = []
        with engine.quiet(not self.verbose):
            for start in range(0, len(frames), PREDICT_CHUNK):
                chunk = frames[start:start + PREDICT_CHUNK]
                out.extend(engine.predict(predictor, [f.load() for f in chunk]))
                ctx.report("yolo predict", min(1.0, (start + len(chunk)) / len(frames)))
        return out

    # ------------------------------------------------------------------ helpers
    def _device(self, ctx: CellContext) -> str:
        from benchbench.api import torch_device

        requested = self.device if self.device is not None else ctx.device
        return torch_device(requested)

    def _model_file(self, root: Path) -> str:
        """The ultralytics ``model`` argument: our resolved yaml (scale fixed) or the checkpoint path."""
        if self.spec.kind == "checkpoint":
            return str(self.spec.path)
        config = {**(self.spec.config or {}), "nc": 1}
        path = root / "model.yaml"  # a neutral name: ultralytics must not guess a scale from it
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return str(path)

    def _load(self, ctx: CellContext) -> Any:
        root = _root(ctx)
        if self._predictor is not None and self._predictor_dir == root:
            return self._predictor
        if not (root / "model.safetensors").exists() or not (root / "model.json").exists():
            raise UserError(f"no trained YOLO weights in {root}", field="detectors.yolo",
                            fix="run fit first (the harness does), or point the cell at its work_dir")
        import_ultralytics(root / "config")
        from benchbench_yolo import engine

        seed_everything(ctx.seed)
        device = self._device(ctx)
        with engine.quiet(not self.verbose):
            net = engine.load_network(root)
            self._predictor = engine.make_predictor(net, self._predictor_args(device, root))
        self._predictor_dir = root
        return self._predictor

    def _predictor_args(self, device: str, root: Path) -> dict[str, Any]:
        return {"conf": self.conf, "iou": self.iou, "imgsz": self.imgsz, "max_det": self.max_det,
                "device": _ultralytics_device(device), "batch": PREDICT_CHUNK, "save_dir": str(root / "predict")}


def _root(ctx: CellContext) -> Path:
    root = Path(ctx.work_dir) / "yolo"
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


def _ultralytics_device(device: str) -> str:
    """benchbench 'cpu' / 'cuda' / 'cuda:1' -> ultralytics 'cpu' / '0' / '1'."""
    if device.startswith("cuda"):
        return device.partition(":")[2] or "0"
    return device


def _ultralytics_version() -> str:
    from importlib.metadata import version

    return version("ultralytics")


def _int(value: Any, field: str, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UserError(f"{field} must be an integer >= {low}, got {value!r}", field=field)
    return value


def _unit(value: Any, field: str, *, closed: bool) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1
    if not ok or (not closed and value >= 1):
        raise UserError(f"{field} must be a number in [0, 1{']' if closed else ')'}, got {value!r}", field=field)
    return float(value)
