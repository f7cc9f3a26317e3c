"""Build (or load) a transformers DETR model and its image processor for one variant.

Everything is local: models are built from configs with a small ResNet backbone
(``backbone_config=ResNetConfig(...)``; random weights) or loaded with
``from_pretrained(local_dir, local_files_only=True)``; processors are constructed with
explicit sizes. Nothing here ever reaches a model hub.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchbench.api import CLASSES, UserError

from benchbench_detr.params import DetrParams

ID2LABEL = dict(enumerate(CLASSES))
LABEL2ID = {v: k for k, v in ID2LABEL.items()}


@dataclass(frozen=True)
class Preset:
    """Sizes shared by all variants; ``base`` is a ResNet-18 backbone with DETR-paper widths."""

    stem: int
    widths: tuple[int, int, int, int]
    depths: tuple[int, int, int, int]
    d_model: int
    ffn: int
    heads: int
    encoder_layers: int   # transformer encoder depth of DETR/Deformable/DAB (RT-DETR's AIFI stays at 1)
    decoder_layers: int
    queries: int
    denoising: int        # contrastive denoising queries (RT-DETR, D-FINE)


PRESETS: dict[str, Preset] = {
    "tiny": Preset(16, (16, 32, 64, 128), (1, 1, 1, 1), 64, 128, 4, 1, 2, 30, 20),
    "small": Preset(32, (32, 64, 128, 256), (1, 1, 1, 1), 128, 256, 4, 2, 3, 100, 50),
    "base": Preset(64, (64, 128, 256, 512), (2, 2, 2, 2), 256, 1024, 8, 6, 6, 300, 100),
}


@dataclass(frozen=True)
class VariantSpec:
    config: str          # transformers class names, resolved lazily
    model: str
    processor: str
    multiscale: bool     # backbone gives strides 8/16/32 (else only the last stage)
    post_kwargs: str     # which extra kwargs post_process_object_detection takes


SPECS: dict[str, VariantSpec] = {
    "rt-detr": VariantSpec("RTDetrConfig", "RTDetrForObjectDetection", "RTDetrImageProcessor", True, "focal"),
    "rt-detr-v2": VariantSpec("RTDetrV2Config", "RTDetrV2ForObjectDetection", "RTDetrImageProcessor", True, "focal"),
    "d-fine": VariantSpec("DFineConfig", "DFineForObjectDetection", "RTDetrImageProcessor", True, "focal"),
    # DEIMv2 with a CNN backbone (its DINOv3 backbones need pretrained ViT weights to make sense)
    "deimv2": VariantSpec("Deimv2Config", "Deimv2ForObjectDetection", "RTDetrImageProcessor", True, "focal"),
    "deformable-detr": VariantSpec("DeformableDetrConfig", "DeformableDetrForObjectDetection",
                                   "DeformableDetrImageProcessor", True, "top_k"),
    # DAB-DETR is trained with a sigmoid focal loss like Conditional DETR, whose processor
    # post-processes with sigmoid + top-k (DETR's softmax would drop the only class).
    "dab-detr": VariantSpec("DabDetrConfig", "DabDetrForObjectDetection", "ConditionalDetrImageProcessor",
                            False, "top_k"),
    "conditional-detr": VariantSpec("ConditionalDetrConfig", "ConditionalDetrForObjectDetection",
                                    "ConditionalDetrImageProcessor", False, "top_k"),
    "detr": VariantSpec("DetrConfig", "DetrForObjectDetection", "DetrImageProcessor", False, "none"),
}


def _transformers_attr(name: str) -> Any:
    import transformers

    return getattr(transformers, name)


@contextmanager
def no_hf_bars() -> Iterator[None]:
    """Silence transformers' per-call tqdm bars (weights load/save); our rich bar reports progress."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def num_queries(p: DetrParams) -> int:
    return p.num_queries if p.num_queries is not None else PRESETS[p.size].queries


def build_config(p: DetrParams) -> Any:
    """A fresh config for ``p.variant`` at ``p.size`` with a small ResNet backbone."""
    from transformers import ResNetConfig

    spec, s = SPECS[p.variant], PRESETS[p.size]
    out_indices = [2, 3, 4] if spec.multiscale else [4]
    backbone = ResNetConfig(embedding_size=s.stem, hidden_sizes=list(s.widths), depths=list(s.depths),
                            layer_type="basic", out_indices=out_indices)
    common: dict[str, Any] = dict(num_labels=len(CLASSES), id2label=ID2LABEL, label2id=LABEL2ID,
                                  backbone_config=backbone, num_queries=num_queries(p),
                                  decoder_layers=s.decoder_layers, decoder_ffn_dim=s.ffn,
                                  decoder_attention_heads=s.heads, encoder_attention_heads=s.heads)
    if p.variant in ("rt-detr", "rt-detr-v2", "d-fine", "deimv2"):
        levels = list(s.widths[1:])
        kw = dict(encoder_in_channels=levels, encoder_hidden_dim=s.d_model, encoder_ffn_dim=s.ffn,
                  d_model=s.d_model, decoder_in_channels=[s.d_model] * 3, num_denoising=s.denoising,
                  # trained from scratch: batch-norm statistics must be learnt, not frozen at init
                  freeze_backbone_batch_norms=False)
    elif p.variant == "deformable-detr":
        # two-stage + box refinement: the Deformable DETR setting DINO builds on
        kw = dict(d_model=s.d_model, encoder_layers=s.encoder_layers, encoder_ffn_dim=s.ffn,
                  num_feature_levels=3, two_stage=True, with_box_refine=True,
                  two_stage_num_proposals=num_queries(p), disable_custom_kernels=True)
    elif p.variant == "dab-detr":
        kw = dict(hidden_size=s.d_model, encoder_layers=s.encoder_layers, encoder_ffn_dim=s.ffn)
    else:
        kw = dict(d_model=s.d_model, encoder_layers=s.encoder_layers, encoder_ffn_dim=s.ffn)
    config_cls = _transformers_attr(spec.config)
    kw = {**common, **kw, **_checked_overrides(config_cls, p.config)}
    try:
        return config_cls(**kw)
    except (TypeError, ValueError) as exc:
        raise UserError(f"invalid {p.variant} configuration: {exc}", field="config",
                        fix="check the overrides against the transformers config class") from None


def _checked_overrides(config_cls: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    fields = {f.name for f in dataclasses.fields(config_cls)} if dataclasses.is_dataclass(config_cls) else set()
    unknown = sorted(k for k in overrides if fields and k not in fields)
    if unknown:
        raise UserError(f"{config_cls.__name__} has no field(s) {', '.join(unknown)}", field="config",
                        fix="use field names of the transformers config class")
    return dict(overrides)


def build_model(p: DetrParams) -> Any:
    """Random-init model from a config (the caller seeds torch first)."""
    return _transformers_attr(SPECS[p.variant].model)(build_config(p))


def load_model(p: DetrParams, path: str | Path, *, finetune: bool) -> Any:
    """Load from a local folder. ``finetune``: adapt foreign weights to the single crack class."""
    model_cls = _transformers_attr(SPECS[p.variant].model)
    kw: dict[str, Any] = {"local_files_only": True}
    if finetune:
        kw.update(num_labels=len(CLASSES), id2label=ID2LABEL, label2id=LABEL2ID, ignore_mismatched_sizes=True,
                  **({"num_queries": p.num_queries} if p.num_queries is not None else {}), **p.config)
    try:
        with no_hf_bars():
            return model_cls.from_pretrained(str(path), **kw)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load {p.variant} weights from {path}: {exc}".splitlines()[0], field="weights",
                        fix="point weights at a folder written by save_pretrained for this variant") from None


def build_processor(p: DetrParams, path: str | Path | None = None) -> Any:
    """The variant's image processor resizing to ``imgsz`` square; settings from ``path`` when it has them."""
    proc_cls = _transformers_attr(SPECS[p.variant].processor)
    size = {"height": p.imgsz, "width": p.imgsz}
    if path is not None and (Path(path) / "preprocessor_config.json").is_file():
        # keep the saved normalisation (pretrained weights expect it), but use our input size
        return proc_cls.from_pretrained(str(path), size=size, do_pad=False, local_files_only=True)
    return proc_cls(size=size, do_pad=False)


def post_process(p: DetrParams, processor: Any, outputs: Any, target_sizes: list[tuple[int, int]],
                 n_queries: int) -> list[dict[str, Any]]:
    """The library's post-processing with a low threshold, so mAP sees the full ranked list."""
    kind = SPECS[p.variant].post_kwargs
    kw: dict[str, Any] = {"threshold": p.threshold, "target_sizes": target_sizes}
    if kind == "focal":
        kw["use_focal_loss"] = True
    elif kind == "top_k":
        kw["top_k"] = n_queries
    return processor.post_process_object_detection(outputs, **kw)
