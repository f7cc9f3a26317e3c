"""Mask-conditioned DDPM generator (``ddpm-masked``): each cracked frame is drawn around a crack mask of the
fold's training frames, and the frame carries that mask, so its boxes come from it (``labeler: mask``) and no
teacher is needed.

``bench train ddpm --guided --mask`` trains the model: a guided DDPM that reads the crack mask as one more
input channel (``--init`` from a trained guided DDPM starts that channel's weights at zero). At run time
``calibrate(train)`` reads the crack masks of the fold's real training frames at the model's resolution, as
its training read them (``benchbench.diffusion.square_mask``); cracked frame i is drawn around one of them,
mirrored half the time and shifted by up to ``jitter`` px (model resolution) each way, all drawn from
(seed, i) alone. Sane frames are drawn with an empty mask, and guidance acts as for ``ddpm-guided``: the
unconditional branch sees neither the class nor the mask.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from benchbench import diffusion
from benchbench.api import FrameSet, GenerationRequest, UserError, frame_mask, sha256_json
from benchbench_ddpm.guided import GuidedDdpmGenerator

DEFAULT_JITTER = 2  # px at the model's 64: about the physics generator's 3-4 px at native scale


class MaskedDdpmGenerator(GuidedDdpmGenerator):
    """Frames of both classes from a mask-conditioned guided DDPM, cracked ones around the fold's masks.

    Parameters: those of ``ddpm-guided`` (``weights`` is the folder of ``bench train ddpm --guided --mask``),
    and ``jitter``: the largest shift (px at the model's resolution) of a training mask, each way.
    """

    name = "ddpm-masked"
    takes_mask = True

    def __init__(self, weights: Any = None, jitter: int = DEFAULT_JITTER, **params: Any):
        if isinstance(jitter, bool) or not isinstance(jitter, int) or jitter < 0:
            raise UserError(f"jitter must be a whole number of pixels >= 0, not {jitter!r}", field="jitter")
        super().__init__(weights, **params)
        self.jitter = jitter

    def params(self) -> dict[str, Any]:
        return {**super().params(), "jitter": self.jitter}

    def fingerprint(self) -> str:
        return sha256_json({"guided": super().fingerprint(), "jitter": self.jitter})

    def calibrate(self, train: FrameSet) -> dict[str, Any]:
        """The crack masks of the real training frames at the model's resolution (flat pixel indices)."""
        size = self.model_size()
        masks = []
        for frame in train.positives():
            mask = frame_mask(frame)
            square = None if mask is None else diffusion.square_mask(mask, size)
            if square is not None and square.any():
                masks.append(np.flatnonzero(square).tolist())
        if not masks:
            raise UserError("ddpm-masked draws around the training frames' crack masks, and these have none",
                            field="plugin", fix="use a masks-layout dataset (FLYD-S), or plugin ddpm-guided")
        return {"mask_size": size, "masks": masks}

    def model_size(self) -> int:
        """The model's resolution, read from its config without loading it."""
        config = self.folders["crack"] / "unet" / "config.json"
        try:
            return int(json.loads(config.read_text())["sample_size"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"cannot read the model's sample_size ({exc})", file=str(config),
                            fix="point weights: at a folder written by `bench train ddpm --guided --mask`") from None

    def _masks(self, req: GenerationRequest) -> Callable[[list[int]], np.ndarray] | None:
        if req.label != "crack":
            return None
        cal = req.calibration or {}
        if not cal.get("masks"):
            raise UserError("ddpm-masked draws its cracked frames around the fold's training masks, and no "
                            "calibration came with the request", field="plugin",
                            fix="run it through bench run, which calibrates it on the fold's training frames")
        masks, size = cal["masks"], int(cal["mask_size"])
        return lambda indices: np.stack([jittered_mask(masks, size, req.seed, i, self.jitter) for i in indices])


def jittered_mask(masks: list[list[int]], size: int, seed: int, index: int, jitter: int) -> np.ndarray:
    """Frame ``index``'s (size x size bool) mask: one of ``masks`` (flat pixel indices), mirrored half the
    time and shifted by up to ``jitter`` px each way, drawn from (seed, index) alone (frame i is the same
    whatever the request's batch or start)."""
    digest = hashlib.sha256(f"ddpm-masked mask:{int(seed)}:{int(index)}".encode()).digest()
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
