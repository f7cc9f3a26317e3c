"""Mask-conditioned diffusion: a model that reads a crack mask beside its noisy input, and a generator that
draws each cracked frame around a crack mask of the fold's training frames and hands that mask over with
the frame, so that ``labeler: mask`` takes its boxes from it and no teacher is needed.

The model side (:func:`takes_mask`, :func:`with_mask_channel`) works for any diffusers UNet; the generator
side is :class:`MaskConditioned`, a mixin for a :class:`~benchbench.diffusion.PipelineGenerator`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np

from benchbench.diffusion.images import square_mask
from benchbench.errors import UserError
from benchbench.frames import FrameSet
from benchbench.metrics.masks import frame_mask
from benchbench.protocols import GenerationRequest

DEFAULT_JITTER = 2  # px at a 64-px model: about the physics generator's 3-4 px shift at native scale


def takes_mask(unet: Any) -> bool:
    """Whether the UNet reads a crack mask beside its input (one input channel more than it predicts)."""
    return int(unet.config.in_channels) == int(unet.config.out_channels) + 1


def with_mask_channel(unet: Any) -> Any:
    """The UNet with a mask input channel added, its weights zero: it predicts exactly what ``unet`` did until
    training teaches it the mask (how Stable Diffusion's inpainting model was started from the text-to-image
    one), so a mask-conditioned model fine-tunes from a trained one."""
    import torch

    wider = type(unet).from_config({**unet.config, "in_channels": int(unet.config.in_channels) + 1})
    state = dict(unet.state_dict())
    w = state["conv_in.weight"]
    state["conv_in.weight"] = torch.cat([w, torch.zeros_like(w[:, :1])], dim=1)
    wider.load_state_dict(state)
    return wider


def pooled_mask(mask: Any, side: int) -> Any:
    """(B, 1, H, W) masks max-pooled to ``side`` (a latent grid): a latent cell is crack when any of its pixels is,
    as :func:`square_mask` keeps any covered pixel."""
    import torch

    mask = torch.as_tensor(mask)
    factor = mask.shape[-1] // side
    return mask if factor == 1 else torch.nn.functional.max_pool2d(mask, factor)


def jittered_mask(masks: list[list[int]], size: int, seed: int, index: int, jitter: int) -> np.ndarray:
    """Frame ``index``'s (size x size bool) mask: one of ``masks`` (flat pixel indices), mirrored half the time
    and shifted by up to ``jitter`` px each way, drawn from (seed, index) alone (frame i is the same whatever
    the request's batch or start)."""
    digest = hashlib.sha256(f"mask-conditioned frame:{int(seed)}:{int(index)}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
    mask = np.zeros(size * size, bool)
    mask[np.asarray(masks[int(rng.integers(len(masks)))], dtype=np.int64)] = True
    mask = mask.reshape(size, size)
    if rng.random() < 0.5:
        mask = mask[:, ::-1]
    dy, dx = (int(v) for v in rng.integers(-jitter, jitter + 1, size=2))
    out = np.zeros_like(mask)
    out[max(dy, 0):size + min(dy, 0), max(dx, 0):size + min(dx, 0)] = \
        mask[max(-dy, 0):size + min(-dy, 0), max(-dx, 0):size + min(-dx, 0)]
    return out


class MaskConditioned:
    """Mixin for a pipeline generator whose crack model reads a mask: ``calibrate(train)`` reads the crack
    masks of the fold's real training frames at ``mask_size()`` px, with the resize and crop its training used
    (:func:`square_mask`); cracked frame i is drawn around one of them, jittered (:func:`jittered_mask`), and
    carries it (``generate_frames``' ``masks``). Sane frames are drawn without one.

    The class sets ``jitter`` (see :meth:`check_jitter`) and implements ``mask_size``.
    """

    name: str
    jitter: int

    @staticmethod
    def check_jitter(jitter: Any) -> int:
        if isinstance(jitter, bool) or not isinstance(jitter, int) or jitter < 0:
            raise UserError(f"jitter must be a whole number of pixels >= 0, not {jitter!r}", field="jitter")
        return jitter

    def mask_size(self) -> int:
        """The resolution (px) the masks are read and drawn at: the model's."""
        raise NotImplementedError

    def calibrate(self, train: FrameSet) -> dict[str, Any]:
        """The crack masks of the real training frames at ``mask_size()`` px (flat pixel indices)."""
        size = self.mask_size()
        masks = []
        for frame in train.positives():
            mask = frame_mask(frame)
            square = None if mask is None else square_mask(mask, size)
            if square is not None and square.any():
                masks.append(np.flatnonzero(square).tolist())
        if not masks:
            raise UserError(f"{self.name} draws around the training frames' crack masks, and these have none",
                            field="plugin", fix="use a masks-layout dataset (FLYD-S), or a generator without masks")
        return {"mask_size": size, "masks": masks}

    def _masks(self, req: GenerationRequest) -> Callable[[list[int]], np.ndarray] | None:
        if req.label != "crack":
            return None
        cal = req.calibration or {}
        if not cal.get("masks"):
            raise UserError(f"{self.name} draws its cracked frames around the fold's training masks, and no "
                            "calibration came with the request", field="plugin",
                            fix="run it through bench run, which calibrates it on the fold's training frames")
        masks, size = cal["masks"], int(cal["mask_size"])
        return lambda indices: np.stack([jittered_mask(masks, size, req.seed, i, self.jitter) for i in indices])
