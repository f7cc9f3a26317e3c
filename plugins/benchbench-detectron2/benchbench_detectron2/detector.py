"""``Detectron2Detector``: the benchbench Detector protocol around detectron2's R-CNN family.

Constructing it only validates parameters (torch and detectron2 are imported in ``fit`` and
``predict``). ``fit`` trains and saves ``<work_dir>/detectron2/`` (safetensors weights, the
detectron2 config it ran, facts); ``predict`` always loads that folder, so an instance fitted
in this process and a fresh one of a resumed run give identical boxes.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchbench.api import Box, CellContext, FrameSet, UserError, file_sha256, seed_everything, sha256_json

from benchbench_detectron2 import __version__
from benchbench_detectron2.params import D2Params, parse_params

MODEL_DIR = "detectron2"


class Detectron2Detector:
    """detectron2 Faster R-CNN, RetinaNet or Mask R-CNN trained on the cell's frames."""

    name = "detectron2"
    version = __version__
    trains_by_steps = True  # honours the matrix's equal-steps budget through ctx.epochs_for

    def __init__(self, **params: Any) -> None:
        self._p: D2Params = parse_params(**params)
        self._loaded: tuple[Path, Any] | None = None

    def params(self) -> dict[str, Any]:
        """The effective hyper-parameters (defaults filled in, the config file named)."""
        return self._p.effective()

    def fingerprint(self) -> str:
        """Hash of the parameters and, when given, the starting weights' file."""
        weights = file_sha256(self._p.weights) if self._p.weights else None
        return sha256_json({"params": self.params(), "weights": weights, "version": self.version})

    def fit(self, train: FrameSet, val: FrameSet | None, ctx: CellContext) -> None:
        from benchbench.api import torch_device

        from benchbench_detectron2 import models, training

        p = self._p
        device = torch_device(p.device or ctx.device)
        cfg = models.build_config(p, device)
        samples = training.to_samples(train, p)
        if not samples:
            raise UserError("no training frames with known boxes", field="train",
                            fix="label cracked frames (boxes) before training the detectron2 detector")
        p = replace(p, epochs=ctx.epochs_for(p.epochs, len(samples)))
        per_epoch = math.ceil(len(samples) / p.batch)
        cfg = training.solver_config(cfg, p, p.epochs * per_epoch, per_epoch)
        seed_everything(ctx.seed)  # before building: the random init must be the same on every rerun
        model = models.build_model(cfg, p.weights)
        ctx.report("fit", 0.0)
        history = training.train(model, cfg, samples, p, ctx)
        ctx.record_budget(epochs=p.epochs, steps=history["steps"], images=p.epochs * len(samples))
        facts = {"params": self.params(), "history": history, "n_train": len(samples),
                 "n_parameters": sum(t.numel() for t in model.parameters())}
        if p.model == "mask_rcnn":
            facts["mask_frames"] = sum(s.true_mask for s in samples)  # the rest learned from filled boxes
        models.save(model, cfg, facts, Path(ctx.work_dir) / MODEL_DIR)
        ctx.record("detectron2", {k: v for k, v in facts.items() if k != "params"})
        self._loaded = None  # predict reloads from disk: the same path as a resumed run

    def predict(self, frames: FrameSet, ctx: CellContext) -> list[list[Box]]:
        from benchbench.api import torch_device

        from benchbench_detectron2 import models, training

        folder = Path(ctx.work_dir) / MODEL_DIR
        if not (folder / models.MODEL_FILE).is_file():
            raise UserError(f"no trained detectron2 model in {folder}", field="work_dir",
                            fix="run fit first (or resume the run in the same results folder)")
        if len(frames) == 0:
            return []
        if self._loaded is None or self._loaded[0] != folder:
            self._loaded = folder, models.load(folder, torch_device(self._p.device or ctx.device))[0]
        return training.predict(self._loaded[1], frames, self._p)
