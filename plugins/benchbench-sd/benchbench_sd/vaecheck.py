"""Does the VAE keep the frames, and the cracks in them? PSNR and a detector's AP on its reconstructions.

A VAE that blurs a 3-7 px crack into the plate would give DreamBooth nothing to learn cracks from,
whatever its PSNR (a crack covers a few hundred of 16,384 pixels). So the check is two numbers on
held-out frames (specimens the VAE never saw): PSNR at the VAE's frame size, and a detector's AP on
the reconstructions beside its AP on the original frames (and on frames only resized to the VAE's
size and back, which separates what the resize loses from what the VAE loses).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.api import CellContext, FrameSet, UserError, coco_stats

PSNR_BAR = 32.0  # dB on held-out frames (issue #23)
AP_MARGIN = 0.05  # reconstructed frames' AP within this of the originals'


def load_vae(folder: str | os.PathLike) -> Any:
    """The ``AutoencoderKL`` of an sd-base output (``W/vae``), a pipeline folder W, or an sd-base VAE
    checkpoint (``W/checkpoints/vae/step-N``: to follow a long run)."""
    import json

    from diffusers import AutoencoderKL

    from benchbench import diffusion
    from benchbench.api import load_state
    from benchbench_sd.vae import build_vae

    root = Path(folder)
    if (root / "vae.safetensors").is_file():
        config = json.loads((root / "state.json").read_text())["config"]
        vae = build_vae(config["vae_width"], size=config["size"], latent_channels=config.get("vae_latent", 4),
                        levels=config.get("vae_levels", 3))
        vae.load_state_dict(load_state(root / "vae.safetensors"))
        return vae.eval()
    for sub in (root / "vae", root):
        if (sub / "config.json").is_file():
            with diffusion.quiet_loading():
                return AutoencoderKL.from_pretrained(sub, local_files_only=True).eval()
    raise UserError(f"no VAE in {root} (neither vae/config.json nor config.json)", field="--vae",
                    fix="give the folder written by bench train sd-base")


def vae_check(vae: Any, held_out: FrameSet, train: FrameSet, detector: Callable[[], Any], ctx: CellContext, *,
              size: int, iou: float = 0.1) -> dict[str, Any]:
    """PSNR and ``detector``'s AP@``iou`` of ``vae``'s reconstructions of ``held_out`` (frames with boxes).

    The detector is fitted once on ``train`` (original frames) and predicts the held-out frames as
    they are, resized to ``size`` and back, and reconstructed by the VAE at ``size`` (then resized back);
    also, for information, reconstructed at their own size (the VAE is convolutional: ``reconstructed_native``).
    """
    from PIL import Image

    from benchbench_sd.vae import psnr, round_trip

    originals = [f.load() for f in held_out]
    resized, reconstructed, scores = [], [], []
    for img in originals:
        h, w = img.shape[:2]
        small = np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BICUBIC))
        rec = round_trip(vae, small)
        scores.append(psnr(small, rec))
        resized.append(np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)))
        reconstructed.append(np.asarray(Image.fromarray(rec).resize((w, h), Image.Resampling.BICUBIC)))
    det = detector()
    det.fit(train, None, ctx)
    native = [round_trip(vae, img) for img in originals]
    ap = {name: _ap(det, held_out, images, ctx, iou) for name, images in
          (("original", originals), ("resized", resized), ("reconstructed", reconstructed),
           ("reconstructed_native", native))}
    gap = ap["original"] - ap["reconstructed"]
    mean_psnr = float(np.mean(scores))
    return {"frames": len(held_out), "crack_frames": len(held_out.positives()), "groups": held_out.groups(),
            "size": size, "psnr_db": {"mean": round(mean_psnr, 2), "min": round(float(np.min(scores)), 2),
                                      "crack_mean": round(float(np.mean([s for s, f in zip(scores, held_out,
                                                                                         strict=True)
                                                                          if f.label == "crack"] or [np.nan])), 2)},
            f"ap{iou:g}": {k: round(v, 4) for k, v in ap.items()}, "ap_gap": round(gap, 4),
            "passes": {"psnr": mean_psnr >= PSNR_BAR, "cracks_survive": gap <= AP_MARGIN}}


def _ap(det: Any, frames: FrameSet, images: list[np.ndarray], ctx: CellContext, iou: float) -> float:
    """AP of ``det`` on ``frames`` with their pixels replaced by ``images`` (same boxes)."""
    swapped = FrameSet([dataclasses.replace(f, image=img) for f, img in zip(frames, images, strict=True)],
                       frames.name)
    preds = det.predict(FrameSet([f.without_truth() for f in swapped], frames.name), ctx)
    return float(coco_stats(swapped, preds, [iou])["AP"])
