"""The ultralytics side: training, checkpoint conversion, loading and prediction.

Import this module only after :func:`benchbench_yolo.offline.import_ultralytics`;
it imports ultralytics (and so torch) at module level.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from benchbench.api import Box, load_state, save_state
from ultralytics.models.yolo.detect import DetectionPredictor, DetectionTrainer
from ultralytics.nn.tasks import DetectionModel, torch_safe_load
from ultralytics.utils import LOGGER, YAML


class Trainer(DetectionTrainer):
    """DetectionTrainer that builds yaml models from their dict with the scale named explicitly.

    Our model.yaml has a neutral file name (ultralytics would otherwise guess a scale
    from it); naming the single 'custom' scale avoids its "no model scale" warning.
    """

    def get_model(self, cfg: Any = None, weights: Any = None, verbose: bool = True) -> DetectionModel:
        if isinstance(cfg, str | Path) and str(cfg).endswith((".yaml", ".yml")):
            config = YAML.load(cfg)
            if "custom" in (config.get("scales") or {}):
                cfg = {**config, "scale": "custom", "yaml_file": str(cfg)}
        return super().get_model(cfg=cfg, weights=weights, verbose=verbose)


    def save_model(self) -> bool:
        # Writing a checkpoint costs ~1 s on a small CPU: write only what can end up used,
        # i.e. an improved epoch (best.pt) and the final one (last.pt).
        improved = self.fitness is not None and self.best_fitness == self.fitness
        if not (improved or self.stop):
            return False
        return super().save_model()


class NoValTrainer(Trainer):
    """A DetectionTrainer that never validates: used when the cell gives no validation set.

    Without a score, every epoch counts as 'best' (best.pt == last.pt) and patience
    never triggers, which is the honest outcome of training without validation.
    """

    def validate(self) -> tuple[dict[str, Any], None]:
        return {}, None

    def final_eval(self) -> None:
        return None


@contextlib.contextmanager
def quiet(enabled: bool = True) -> Iterator[None]:
    """Silence ultralytics' logger (its progress bars switch off with it) for the duration."""
    if not enabled:
        yield
        return
    level = LOGGER.level
    LOGGER.setLevel(logging.WARNING)
    try:
        yield
    finally:
        LOGGER.setLevel(level)


def train(overrides: dict[str, Any], *, validate: bool, on_epoch: Callable[[int, int], None],
          on_trained_epoch: Callable[[int, Callable[[], DetectionModel]], None] | None = None) -> Trainer:
    """Run one ultralytics training; returns the finished trainer (weights under save_dir/weights).

    ``on_trained_epoch(epoch, snapshot)`` runs once each epoch's optimizer steps are done (not again in
    the final validation, which re-fires the epoch-end callbacks); ``snapshot()`` gives that epoch's model.
    """
    trainer = (Trainer if validate else NoValTrainer)(overrides=overrides)
    trainer.add_callback("on_fit_epoch_end", lambda t: on_epoch(t.epoch + 1, t.epochs))
    if on_trained_epoch is not None:
        trainer.add_callback("on_train_epoch_end", lambda t: on_trained_epoch(t.epoch + 1, lambda: snapshot(t)))
    trainer.train()
    return trainer


def snapshot(trainer: DetectionTrainer) -> DetectionModel:
    """The network a checkpoint written now would hold (the EMA weights through half precision, as
    ``save_model`` stores them), as a copy in eval mode: predicting with it leaves the training as it was."""
    return copy.deepcopy(trainer.ema.ema).half().float().eval()


def export_weights(checkpoint: Path, out_dir: Path) -> dict[str, Any]:
    """Convert an ultralytics checkpoint we just wrote to safetensors + a JSON config.

    Predictions later load only these two files (no pickle), so a resumed run or a
    fresh instance sees exactly the weights the fit produced.
    """
    ckpt, _ = torch_safe_load(str(checkpoint), safe_only=True)  # weights_only=True
    net = (ckpt.get("ema") or ckpt["model"]).float()
    meta = {
        "yaml": net.yaml,
        "nc": int(net.yaml.get("nc", len(net.names))),
        "names": {str(k): v for k, v in net.names.items()},
        "checkpoint": checkpoint.name,
    }
    save_state(net.state_dict(), out_dir / "model.safetensors")
    (out_dir / "model.json").write_text(json.dumps(meta, indent=1, default=str))
    return meta


def load_network(out_dir: Path) -> DetectionModel:
    """Rebuild the trained network from model.json and load model.safetensors (strict)."""
    meta = json.loads((out_dir / "model.json").read_text())
    net = DetectionModel(cfg=meta["yaml"], nc=meta["nc"], verbose=False)
    net.load_state_dict(load_state(out_dir / "model.safetensors"), strict=True)
    net.names = {int(k): v for k, v in meta["names"].items()}
    return net.eval()


def make_predictor(net: DetectionModel, overrides: dict[str, Any]) -> DetectionPredictor:
    predictor = DetectionPredictor(overrides={"mode": "predict", "save": False, "verbose": False,
                                              "rect": False, **overrides})
    predictor.setup_model(model=net, verbose=False)
    return predictor


def predict(predictor: DetectionPredictor, images: Sequence[np.ndarray]) -> list[list[Box]]:
    """Scored pixel boxes for RGB uint8 images (one list per image)."""
    # ultralytics treats numpy input as BGR (OpenCV order); training images were read by OpenCV too.
    bgr = [np.ascontiguousarray(im[:, :, ::-1]) for im in images]
    out: list[list[Box]] = []
    with torch.inference_mode():
        results = predictor(source=bgr, stream=False)
    for im, res in zip(images, results, strict=True):
        h, w = im.shape[:2]
        xyxy = res.boxes.xyxy.cpu().numpy().astype(float) if res.boxes is not None else np.zeros((0, 4))
        conf = res.boxes.conf.cpu().numpy().astype(float) if res.boxes is not None else np.zeros(0)
        boxes = []
        for (x1, y1, x2, y2), score in zip(xyxy, conf, strict=True):
            x1, x2 = np.clip([x1, x2], 0, w)
            y1, y2 = np.clip([y1, y2], 0, h)
            if x2 > x1 and y2 > y1:
                boxes.append(Box.from_xyxy(x1, y1, x2, y2, score=float(np.clip(score, 0.0, 1.0))))
        out.append(boxes)
    return out
