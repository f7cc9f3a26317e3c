"""Can the tiny SD pipeline represent a thermogram at all? Encode/decode real crack frames with its VAE.

DreamBooth (``bench train dreambooth``) fine-tunes the UNet and text encoder and freezes the VAE, as
the Stable Diffusion recipe does; so generated frames can only look like thermograms if the VAE can
reconstruct them. Usage (after the commands in flyd-s-study.yaml's header):

    bench generators init-tiny sd weights/tiny-sd
    python examples/study/sd_vae_probe.py weights/tiny-sd weights/flyd-s/train-frames/crack
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def main(pipeline: str, frames: str, n: int = 16) -> None:
    import torch
    from diffusers import AutoencoderKL
    from PIL import Image

    vae = AutoencoderKL.from_pretrained(str(Path(pipeline) / "vae"), local_files_only=True).eval()
    size = vae.config.sample_size
    paths = sorted(p for p in Path(frames).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[:n]
    x = np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size))) for p in paths])
    t = torch.from_numpy(x.astype(np.float32) / 127.5 - 1).permute(0, 3, 1, 2)
    with torch.no_grad():
        rec = vae.decode(vae.encode(t).latent_dist.mode()).sample
    psnr = 10 * np.log10(4 / float(((rec - t) ** 2).mean()))  # signal range [-1, 1]: peak² = 4
    corr = np.mean([np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(t.numpy(), rec.numpy(), strict=True)])
    print(f"{len(paths)} frames at {size} px through {pipeline}/vae: PSNR {psnr:.1f} dB, pixel correlation {corr:.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
