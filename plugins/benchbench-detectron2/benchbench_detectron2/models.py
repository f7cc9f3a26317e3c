"""detectron2 configs and models (imports detectron2 and torch: loaded lazily, in fit/predict).

The config comes from detectron2's own file for the model (``detectron2/model_zoo/configs/``,
read as a package file: ``detectron2.model_zoo`` needs ``pkg_resources``, which recent setuptools
no longer ships), then the plugin's settings: one class, the backbone depth, the test-time score
floor, and, unless ``weights`` is a detectron2 checkpoint (``.pkl``/``.pth``, whose caffe-style
backbones the file's defaults suit), detectron2's from-scratch settings: group norm in the backbone,
FPN and mask head, nothing frozen, inputs scaled to unit variance.
"""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path
from typing import Any

from benchbench.api import UserError, load_state, save_state

from benchbench_detectron2.params import CONFIG_FILES, INSTALL_FIX, SIZES, D2Params

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.yaml"
FACTS_FILE = "benchbench_detectron2.json"
# torchvision's ImageNet std in BGR order: unit-variance inputs for a backbone trained from scratch
PIXEL_STD_BGR = [57.375, 57.12, 58.395]


def import_detectron2() -> None:
    """Import detectron2's compiled ops, or a one-line error (e.g. a build for another torch)."""
    try:
        import detectron2._C  # noqa: F401
    except ImportError as exc:
        raise UserError(f"detectron2 does not import ({exc})", field="plugin", fix=INSTALL_FIX) from None


def build_config(p: D2Params, device: str) -> Any:
    """The detectron2 CfgNode of ``p``: its model's config file plus the plugin's settings and ``p.config``."""
    import_detectron2()
    from detectron2.config import get_cfg

    cfg = get_cfg()
    cfg.merge_from_file(str(importlib.resources.files("detectron2") / "model_zoo" / "configs" / CONFIG_FILES[p.model]))
    m = cfg.MODEL
    m.DEVICE, m.WEIGHTS = device, ""
    m.ROI_HEADS.NUM_CLASSES = m.RETINANET.NUM_CLASSES = 1
    m.RESNETS.DEPTH = p.depth
    if p.depth < 50:  # basic blocks: detectron2 requires res2 to have the stem's 64 channels
        m.RESNETS.RES2_OUT_CHANNELS = 64
    m.ROI_HEADS.SCORE_THRESH_TEST = m.RETINANET.SCORE_THRESH_TEST = p.threshold
    cfg.TEST.DETECTIONS_PER_IMAGE = p.max_det
    if p.weights is None or p.weights.endswith(".safetensors"):  # random init, or a model this plugin trained
        # detectron2's from-scratch recipe (Misc/scratch_mask_rcnn_R_50_FPN_3x_gn.yaml): group norm, nothing
        # frozen. On FLYD-S (12 epochs, 96 px) it took held-out AP@0.1 from 0.04 with batch norm to 0.42.
        m.RESNETS.NORM = m.FPN.NORM = m.ROI_MASK_HEAD.NORM = "GN"
        m.BACKBONE.FREEZE_AT, m.PIXEL_STD = 0, PIXEL_STD_BGR
    overrides = [item for key, value in {**SIZES[p.size], **p.config}.items() for item in (key, value)]
    try:
        cfg.merge_from_list(overrides)
    except (KeyError, ValueError, AssertionError) as exc:
        raise UserError(f"bad detectron2 config override ({exc})", field="config",
                        fix="use detectron2's config keys and types, e.g. MODEL.ROI_BOX_HEAD.FC_DIM: 256") from None
    cfg.freeze()
    return cfg


def build_model(cfg: Any, weights: str | None) -> Any:
    """The model of ``cfg``, random or from a local checkpoint (heads of another shape stay random)."""
    from detectron2.modeling import build_model as d2_build

    model = d2_build(cfg)
    if weights is None:
        return model
    if weights.endswith(".safetensors"):
        state = load_state(weights)
        own = model.state_dict()
        fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(fitting, strict=False)
    else:
        from detectron2.checkpoint import DetectionCheckpointer

        DetectionCheckpointer(model).load(weights)  # a local file: skips tensors whose shapes differ
    return model


def save(model: Any, cfg: Any, facts: dict[str, Any], out: Path) -> None:
    """Write weights, config and facts atomically: a run killed mid-save never leaves half a model to resume."""
    import shutil

    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_state({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, tmp / MODEL_FILE)
    (tmp / CONFIG_FILE).write_text(cfg.dump())
    (tmp / FACTS_FILE).write_text(json.dumps(facts, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def load(folder: Path, device: str) -> tuple[Any, Any]:
    """(model, cfg) saved by :func:`save`, on ``device``, in eval mode."""
    import_detectron2()
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model as d2_build

    cfg = get_cfg()
    cfg.merge_from_file(str(folder / CONFIG_FILE))
    cfg.MODEL.DEVICE = device
    cfg.freeze()
    model = d2_build(cfg)
    model.load_state_dict(load_state(folder / MODEL_FILE), strict=True)
    if getattr(getattr(model, "roi_heads", None), "mask_on", False):
        # the harness scores boxes: pasting 100 predicted masks per frame would double predict's time
        model.roi_heads.mask_on = False
    return model.eval(), cfg
