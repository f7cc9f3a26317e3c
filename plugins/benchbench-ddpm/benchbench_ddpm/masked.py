"""Mask-conditioned DDPM generator (``ddpm-masked``): each cracked frame is drawn around a crack mask of the
fold's training frames, and the frame carries that mask, so its boxes come from it (``labeler: mask``) and no
teacher is needed.

``bench train ddpm --guided --mask`` trains the model: a guided DDPM that reads the crack mask as one more
input channel (``--init`` from a trained guided DDPM starts that channel's weights at zero). At run time the
kit's :class:`~benchbench.diffusion.MaskConditioned` calibrates it on the fold's training masks and draws a
jittered one for each cracked frame. Sane frames are drawn with an empty mask, and guidance acts as for
``ddpm-guided``: the unconditional branch sees neither the class nor the mask.
"""

from __future__ import annotations

import json
from typing import Any

from benchbench import diffusion
from benchbench.api import UserError, sha256_json
from benchbench_ddpm.guided import GuidedDdpmGenerator


class MaskedDdpmGenerator(diffusion.MaskConditioned, GuidedDdpmGenerator):
    """Frames of both classes from a mask-conditioned guided DDPM, cracked ones around the fold's masks.

    Parameters: those of ``ddpm-guided`` (``weights`` is the folder of ``bench train ddpm --guided --mask``),
    and ``jitter``: the largest shift (px at the model's resolution) of a training mask, each way.
    """

    name = "ddpm-masked"
    reads_mask = True

    def __init__(self, weights: Any = None, jitter: int = diffusion.DEFAULT_JITTER, **params: Any):
        self.jitter = self.check_jitter(jitter)
        super().__init__(weights, **params)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "jitter": self.jitter}

    def fingerprint(self) -> str:
        return sha256_json({"guided": super().fingerprint(), "jitter": self.jitter})

    def mask_size(self) -> int:
        """The model's resolution, read from its config without loading it."""
        config = self.folders["crack"] / "unet" / "config.json"
        try:
            return int(json.loads(config.read_text())["sample_size"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"cannot read the model's sample_size ({exc})", file=str(config),
                            fix="point weights: at a folder written by `bench train ddpm --guided --mask`") from None
