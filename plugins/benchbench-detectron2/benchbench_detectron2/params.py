"""Parameters of the detectron2 detector, validated without importing torch or detectron2.

The factory must be cheap (the harness builds detectors while planning), so every check that
can be made on plain values happens here, and a bad value is a one-line ``UserError`` naming
the field and the fix. Whether detectron2 is installed is checked here too (a module lookup,
no import), so a matrix naming this detector fails at ``bench validate``, not mid-run.
"""

from __future__ import annotations

import difflib
import importlib.util
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchbench.api import UserError, require_local_path

# model -> detectron2's own config file (under detectron2/model_zoo/configs/)
CONFIG_FILES: dict[str, str] = {
    "faster_rcnn": "COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml",
    "retinanet": "COCO-Detection/retinanet_R_50_FPN_1x.yaml",
    "mask_rcnn": "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.yaml",
}
DEPTHS = (18, 34, 50, 101)
# size -> config overrides applied before the row's own ``config``. ``full``: the file's widths and
# sampling, made for 800-px COCO images on GPUs; ``small``: narrower FPN and heads and fewer
# proposals, about 5x cheaper per step on CPU, for the few cracks of a 128-px frame.
SIZES: dict[str, dict[str, Any]] = {
    "full": {},
    "small": {
        "MODEL.FPN.OUT_CHANNELS": 64,
        "MODEL.ROI_BOX_HEAD.FC_DIM": 256,
        "MODEL.ROI_MASK_HEAD.CONV_DIM": 64,
        "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE": 64,
        "MODEL.RPN.BATCH_SIZE_PER_IMAGE": 64,
        "MODEL.RPN.PRE_NMS_TOPK_TRAIN": 500,
        "MODEL.RPN.POST_NMS_TOPK_TRAIN": 200,
        "MODEL.RPN.PRE_NMS_TOPK_TEST": 500,
        "MODEL.RPN.POST_NMS_TOPK_TEST": 200,
        # the files' anchors (32-512 px, h/w 0.5-2) miss most cracks of a 128-px frame: 3-10 px wide, tall
        "MODEL.ANCHOR_GENERATOR.SIZES": [[8], [16], [32], [64], [128]],
        "MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS": [[0.5, 1.0, 2.0, 4.0, 8.0]],
    },
}
SCHEDULES = ("step", "cosine")
WEIGHT_SUFFIXES = (".pkl", ".pth", ".safetensors")
INSTALL_FIX = ("install detectron2 from source (pip install 'git+https://github.com/facebookresearch/detectron2.git' "
               "--no-build-isolation), or in this repository the wheel in ../shared/wheels/ (make install)")


@dataclass(frozen=True)
class D2Params:
    """Effective hyper-parameters; ``asdict`` of this is what ``params()`` reports."""

    model: str = "faster_rcnn"
    depth: int = 18
    size: str = "full"
    epochs: int = 12
    imgsz: int = 128
    batch: int = 4
    lr: float = 0.02                    # detectron2's BASE_LR (SGD, momentum 0.9)
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    schedule: str = "step"              # detectron2's multi-step decay (x0.1 at 2/3 and 8/9) or cosine
    hflip: float = 0.5                  # probability of a horizontal flip per training image
    threshold: float = 0.0              # score floor at test time: 0 keeps the whole ranked list for mAP
    max_det: int = 100
    device: str | None = None           # None: the cell's device (ctx.device)
    weights: str | None = None          # local detectron2 checkpoint (.pkl/.pth) or this plugin's .safetensors
    config: dict[str, Any] = field(default_factory=dict)  # raw overrides of the detectron2 config

    def effective(self) -> dict[str, Any]:
        out = asdict(self)
        out["config_file"] = CONFIG_FILES[self.model]
        return out


def require_detectron2() -> None:
    """A one-line error when detectron2 is not installed (a lookup: nothing is imported)."""
    if importlib.util.find_spec("detectron2") is None:
        raise UserError("detectron2 is not installed", field="plugin", fix=INSTALL_FIX)


def _value(name: str, value: Any, kind: type, low: float, high: float = float("inf"), *,
           above: bool = False) -> Any:
    """``value`` as ``kind`` within [low, high] ((low, high] when ``above``), or a one-line error."""
    whole = kind is int
    if isinstance(value, bool) or not isinstance(value, int | float) or (whole and not float(value).is_integer()):
        raise UserError(f"expected {'a whole' if whole else 'a'} number, got {value!r}", field=name,
                        fix=f"set {name} to {'an integer' if whole else 'a number'}")
    inside = (value > low if above else value >= low) and value <= high
    if not inside:
        bounds = f"{'>' if above else '>='} {low}" + ("" if high == float("inf") else f" and <= {high}")
        raise UserError(f"{value} is out of range", field=name, fix=f"use a value {bounds}")
    return kind(value)


def _one_of(name: str, value: Any, choices: tuple[Any, ...]) -> Any:
    if value not in choices:
        raise UserError(f"unknown value {value!r}", field=name, fix=f"use one of: {', '.join(map(str, choices))}")
    return value


def check_weights(path: str) -> Path:
    """A local checkpoint file this plugin can load, or a one-line error (never a download)."""
    file = require_local_path(path, field="weights", what="detectron2 checkpoint")
    if not file.is_file() or file.suffix not in WEIGHT_SUFFIXES:
        raise UserError(f"{file} is not a checkpoint file", field="weights",
                        fix="point weights at a detectron2 checkpoint (.pkl, .pth) or a model.safetensors this "
                            "plugin wrote")
    return file


def parse_params(**raw: Any) -> D2Params:
    """Validate matrix parameters; unknown keys and bad values are user errors."""
    known = sorted(D2Params.__dataclass_fields__)
    for key in sorted(raw):
        if key not in known:  # a typo names its closest parameter
            close = difflib.get_close_matches(key, known, n=1)
            raise UserError(f"unknown parameter {key!r}", field=key,
                            fix=f"did you mean {close[0]}?" if close else f"use one of: {', '.join(known)}")
    require_detectron2()
    p = D2Params(**raw)
    if p.device is not None and not isinstance(p.device, str):
        raise UserError(f"expected a device name, got {p.device!r}", field="device",
                        fix="use cpu, cuda, cuda:1 or auto")
    if not isinstance(p.config, dict) or not all(isinstance(k, str) and "." in k for k in p.config):
        raise UserError(f"expected a mapping of dotted detectron2 config keys, got {p.config!r}", field="config",
                        fix="e.g. config: {MODEL.ROI_BOX_HEAD.FC_DIM: 256}")
    return D2Params(
        model=_one_of("model", str(p.model).lower(), tuple(CONFIG_FILES)),
        depth=_one_of("depth", p.depth, DEPTHS),
        size=_one_of("size", str(p.size).lower(), tuple(SIZES)),
        epochs=_value("epochs", p.epochs, int, 0),
        imgsz=_value("imgsz", p.imgsz, int, 32, 4096),
        batch=_value("batch", p.batch, int, 1),
        lr=_value("lr", p.lr, float, 0, above=True),
        weight_decay=_value("weight_decay", p.weight_decay, float, 0),
        warmup_epochs=_value("warmup_epochs", p.warmup_epochs, float, 0),
        schedule=_one_of("schedule", str(p.schedule).lower(), SCHEDULES),
        hflip=_value("hflip", p.hflip, float, 0, 1),
        threshold=_value("threshold", p.threshold, float, 0, 1),
        max_det=_value("max_det", p.max_det, int, 1),
        device=p.device,
        weights=None if p.weights is None else str(check_weights(str(p.weights))),
        config=dict(p.config),
    )
