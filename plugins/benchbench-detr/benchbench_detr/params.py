"""Parameters of the detr detector: validated here without importing torch or transformers.

The factory must be cheap (the harness builds detectors while planning), so every check
that can be done on plain values happens here, and a bad value is a one-line
``UserError`` naming the field and the fix.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchbench.api import UserError, require_local_path

# variant -> transformers model_type written in a saved config.json
VARIANTS: dict[str, str] = {
    "rt-detr": "rt_detr",
    "rt-detr-v2": "rt_detr_v2",
    "d-fine": "d_fine",
    "deimv2": "deimv2",
    "deformable-detr": "deformable_detr",
    "dab-detr": "dab-detr",
    "conditional-detr": "conditional_detr",
    "detr": "detr",
}
# Variants that transformers 5.24 has but that cannot be trained from a config here,
# with the reason given to the user.
UNSUPPORTED: dict[str, str] = {
    "dino": "transformers has no plain DINO detector; rt-detr (the default) carries DINO's "
            "contrastive denoising and query selection",
    "grounding-dino": "Grounding DINO needs a text encoder and prompts (open-vocabulary), not a class head",
    "mm-grounding-dino": "MM Grounding DINO needs a text encoder and prompts (open-vocabulary), not a class head",
}
SIZES = ("tiny", "small", "base")
SCHEDULES = ("cosine", "step")


@dataclass(frozen=True)
class DetrParams:
    """Effective hyper-parameters; ``asdict`` of this is what ``params()`` reports."""

    variant: str = "rt-detr"
    size: str = "tiny"
    epochs: int = 30
    lr: float = 5e-4
    lr_backbone: float | None = None     # None: = lr from scratch, lr/10 when fine-tuning weights
    batch: int = 8
    imgsz: int = 128
    weight_decay: float = 1e-4
    patience: int = 10                   # epochs without val-loss improvement; 0 = never stop early
    num_queries: int | None = None       # None: the size preset
    device: str | None = None            # None: the cell's device (ctx.device)
    threads: int | None = None           # torch CPU threads during fit/predict; None: torch's default
    weights: str | None = None           # local folder saved by save_pretrained
    warmup_epochs: float = 1.0
    schedule: str = "cosine"
    grad_clip: float = 0.1               # max gradient norm (RT-DETR's recipe); 0 = off
    hflip: float = 0.5                   # probability of a horizontal flip per training image
    threshold: float = 0.001             # post-processing score floor: keep the ranked list for mAP
    config: dict[str, Any] = field(default_factory=dict)  # raw overrides of the transformers config

    def effective(self) -> dict[str, Any]:
        out = asdict(self)
        out["lr_backbone"] = self.backbone_lr()
        return out

    def backbone_lr(self) -> float:
        if self.lr_backbone is not None:
            return self.lr_backbone
        return self.lr / 10 if self.weights else self.lr


def _number(name: str, value: Any, kind: type, *, minimum: float | None = None,
            maximum: float | None = None, strict_min: bool = False) -> Any:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if not numeric or (kind is int and not float(value).is_integer()):
        raise UserError(f"expected {'an integer' if kind is int else 'a number'}, got {value!r}", field=name,
                        fix=f"set {name} to a {'whole ' if kind is int else ''}number")
    value = kind(value)
    if minimum is not None and (value <= minimum if strict_min else value < minimum):
        raise UserError(f"{value} is too small", field=name,
                        fix=f"use a value {'>' if strict_min else '>='} {minimum}")
    if maximum is not None and value > maximum:
        raise UserError(f"{value} is too large", field=name, fix=f"use a value <= {maximum}")
    return value


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise UserError(f"unknown value {value!r}", field=name, fix=f"use one of: {', '.join(choices)}")
    return value


def check_weights_dir(path: str, variant: str) -> Path:
    """A local transformers folder (config.json + weights) of the right model type, or a UserError."""
    root = require_local_path(path, field="weights", what="DETR weights folder")
    cfg = root / "config.json"
    if not root.is_dir() or not cfg.is_file():
        raise UserError(f"{root} is not a transformers model folder (no config.json)", field="weights",
                        fix="point weights at a folder written by save_pretrained (config.json + model.safetensors)")
    if not any(root.glob("*.safetensors")) and not any(root.glob("*.bin")):
        raise UserError(f"no weight files (*.safetensors) in {root}", field="weights",
                        fix="point weights at a folder written by save_pretrained")
    try:
        model_type = json.loads(cfg.read_text()).get("model_type")
    except (OSError, ValueError) as exc:
        raise UserError(f"unreadable config.json ({exc})", file=cfg, fix="re-save the model") from None
    if model_type != VARIANTS[variant]:
        hint = next((v for v, t in VARIANTS.items() if t == model_type), None)
        raise UserError(f"{root} holds a '{model_type}' model, not {variant}", field="weights",
                        fix=f"set variant: {hint}" if hint else "use weights of a supported variant")
    return root


def parse_params(**raw: Any) -> DetrParams:
    """Validate matrix parameters; unknown keys and bad values are user errors."""
    known = set(DetrParams.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise UserError(f"unknown parameter(s) {', '.join(unknown)}", field=unknown[0],
                        fix=f"use only: {', '.join(sorted(known))}")
    p = DetrParams(**raw)
    variant = str(p.variant).lower()
    if variant in UNSUPPORTED:
        raise UserError(f"variant {variant!r} is not supported: {UNSUPPORTED[variant]}", field="variant",
                        fix=f"use one of: {', '.join(VARIANTS)}")
    variant = _choice("variant", variant, tuple(VARIANTS))
    size = _choice("size", str(p.size).lower(), SIZES)
    schedule = _choice("schedule", str(p.schedule).lower(), SCHEDULES)
    if p.device is not None and not isinstance(p.device, str):
        raise UserError(f"expected a device name, got {p.device!r}", field="device",
                        fix="use cpu, cuda, cuda:1 or auto")
    if not isinstance(p.config, dict):
        raise UserError(f"expected a mapping, got {p.config!r}", field="config",
                        fix="give transformers config overrides as a mapping, e.g. {decoder_layers: 3}")
    weights = None
    if p.weights is not None:
        weights = str(check_weights_dir(str(p.weights), variant))
    return DetrParams(
        variant=variant,
        size=size,
        epochs=_number("epochs", p.epochs, int, minimum=0),
        lr=_number("lr", p.lr, float, minimum=0, strict_min=True),
        lr_backbone=None if p.lr_backbone is None else _number("lr_backbone", p.lr_backbone, float, minimum=0),
        batch=_number("batch", p.batch, int, minimum=1),
        imgsz=_number("imgsz", p.imgsz, int, minimum=32, maximum=4096),
        weight_decay=_number("weight_decay", p.weight_decay, float, minimum=0),
        patience=_number("patience", p.patience, int, minimum=0),
        num_queries=None if p.num_queries is None else _number("num_queries", p.num_queries, int, minimum=1),
        device=p.device,
        threads=None if p.threads is None else _number("threads", p.threads, int, minimum=1),
        weights=weights,
        warmup_epochs=_number("warmup_epochs", p.warmup_epochs, float, minimum=0),
        schedule=schedule,
        grad_clip=_number("grad_clip", p.grad_clip, float, minimum=0),
        hflip=_number("hflip", p.hflip, float, minimum=0, maximum=1),
        threshold=_number("threshold", p.threshold, float, minimum=0, maximum=1),
        config=dict(p.config),
    )
