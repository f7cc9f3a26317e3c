"""``DetrDetector``: the benchbench Detector protocol around transformers DETR models.

Constructing it only validates parameters (torch is imported in ``fit``/``predict``).
``fit`` trains and saves ``<work_dir>/model`` (safetensors + image processor config);
``predict`` uses the in-process model or loads that folder, so a resumed run never
retrains.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchbench.api import Box, CellContext, FrameSet, UserError, dir_fingerprint, seed_everything, sha256_json

from benchbench_detr import __version__
from benchbench_detr.params import DetrParams, check_weights_dir, parse_params

MODEL_DIR = "model"
META_FILE = "benchbench_detr.json"


class DetrDetector:
    """DINO-style DETR (RT-DETR by default) trained on the cell's frames."""

    name = "detr"
    version = __version__
    trains_by_steps = True  # honours the matrix's equal-steps budget through ctx.epochs_for

    def __init__(self, **params: Any) -> None:
        self._p: DetrParams = parse_params(**params)
        self._model: Any = None
        self._processor: Any = None

    # ------------------------------------------------------------------ info
    def params(self) -> dict[str, Any]:
        """The effective hyper-parameters (defaults filled in, presets resolved)."""
        from benchbench_detr.variants import num_queries

        out = self._p.effective()
        out["num_queries"] = num_queries(self._p)
        return out

    def fingerprint(self) -> str:
        """Hash of the parameters and, when given, the starting weights' files."""
        weights = dir_fingerprint(self._p.weights) if self._p.weights else None
        return sha256_json({"params": self.params(), "weights": weights, "version": self.version})

    # ------------------------------------------------------------------ protocol
    def fit(self, train: FrameSet, val: FrameSet | None, ctx: CellContext) -> None:
        from benchbench_detr.training import cpu_threads

        with cpu_threads(self._p.threads):
            self._fit(train, val, ctx)

    def predict(self, frames: FrameSet, ctx: CellContext) -> list[list[Box]]:
        from benchbench_detr.training import cpu_threads

        with cpu_threads(self._p.threads):
            return self._predict(frames, ctx)

    # ------------------------------------------------------------------ work
    def _fit(self, train: FrameSet, val: FrameSet | None, ctx: CellContext) -> None:
        from benchbench.api import torch_device

        from benchbench_detr import training, variants

        p = self._p
        train_set = training.to_samples(train)
        if not train_set:
            raise UserError("no training frames with known boxes", field="train",
                            fix="label cracked frames (boxes) before training the detr detector")
        val_set = training.to_samples(val) if val is not None else []
        device = torch_device(p.device or ctx.device)
        seed_everything(ctx.seed)  # before building: the random init must be the same on every rerun
        if p.weights:
            model = variants.load_model(p, p.weights, finetune=True)
        else:
            model = variants.build_model(p)
        model.to(device)
        processor = variants.build_processor(p, p.weights)
        ctx.report("fit", 0.0)
        p = replace(p, epochs=ctx.epochs_for(p.epochs, len(train_set)))
        hist = training.train(model, processor, train_set, val_set, p, ctx, device)
        epochs_run = len(hist.train_loss)
        ctx.record_budget(epochs=epochs_run, steps=epochs_run * math.ceil(len(train_set) / p.batch),
                          images=epochs_run * len(train_set))
        facts = {"params": self.params(), "history": hist.to_dict(), "n_train": len(train_set), "n_val": len(val_set),
                 "n_parameters": sum(t.numel() for t in model.parameters())}
        _save(model, processor, facts, Path(ctx.work_dir) / MODEL_DIR)
        for key in ("n_train", "n_val", "n_parameters"):
            ctx.record(f"detr_{key}", facts[key])
        ctx.record("detr_history", facts["history"])
        self._model, self._processor = model, processor

    def _predict(self, frames: FrameSet, ctx: CellContext) -> list[list[Box]]:
        from benchbench.api import torch_device

        from benchbench_detr import training, variants

        p = self._p
        device = torch_device(p.device or ctx.device)
        if self._model is None:
            path = Path(ctx.work_dir) / MODEL_DIR
            if not path.is_dir():
                raise UserError(f"no trained detr model in {path}", field="work_dir",
                                fix="run fit first (or resume the run in the same results folder)")
            check_weights_dir(str(path), p.variant)
            self._model = variants.load_model(p, path, finetune=False)
            self._processor = variants.build_processor(p, path)
        self._model.to(device)
        if len(frames) == 0:
            return []
        return training.predict(self._model, self._processor, frames, p, device,
                                n_queries=int(self._model.config.num_queries))


def _save(model: Any, processor: Any, facts: dict[str, Any], out: Path) -> None:
    """Write the model folder atomically: a run killed mid-save never leaves a half model to resume from."""
    from benchbench_detr.variants import no_hf_bars

    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with no_hf_bars():
        model.save_pretrained(tmp)  # safetensors
        processor.save_pretrained(tmp)
    (tmp / META_FILE).write_text(json.dumps(facts, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
