"""The Stable Diffusion VAE learnt from thermograms: a small ``AutoencoderKL`` and its reconstructions.

No VAE can be downloaded here, and a random one decodes real crack frames at 7.6 dB PSNR. A
grey (1-channel) VAE that downsamples by 4 into 4 latent channels keeps a 3-7 px crack: the
latent grid is as fine as the crack is wide. The loss is the pixel MSE (what PSNR scores) plus a
small KL term that keeps the latents Gaussian-like for the UNet.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Weight of the KL term: SD's own VAE uses 1e-6 with perceptual + GAN terms; with the pixel loss alone
# a larger weight blurs cracks, a smaller one leaves latent scales the UNet learns slowly.
KL_WEIGHT = 1e-6


def build_vae(width: int, *, channels: int = 1, size: int = 128, latent_channels: int = 4, levels: int = 3) -> Any:
    """An ``AutoencoderKL`` of block widths (width, 2*width, 2*width)[:levels]: downsampling by
    2**(levels-1) (4 by default; 2 keeps a 1-px crack step at 4x the UNet's cost), no attention (frames
    at native scale are local texture; attention would cost as much as the rest at 128 px)."""
    from diffusers import AutoencoderKL

    widths = (width, 2 * width, 2 * width)[:levels]
    return AutoencoderKL(in_channels=channels, out_channels=channels, latent_channels=latent_channels,
                         down_block_types=("DownEncoderBlock2D",) * levels,
                         up_block_types=("UpDecoderBlock2D",) * levels,
                         block_out_channels=widths, layers_per_block=1, norm_num_groups=min(8, width),
                         sample_size=size, mid_block_add_attention=False)


def downsampling(vae: Any) -> int:
    """How many pixels one latent spans per side: 2 per level after the first."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


def vae_loss(vae: Any, pixels: Any, gen: Any, edge_weight: float = 0.0, weights: Any = None) -> tuple[Any, float]:
    """(loss to back-propagate, its pixel MSE) of one batch in [-1, 1].

    ``edge_weight`` adds the L1 difference of the images' horizontal and vertical finite differences:
    a crack is a step of a few grey levels that the MSE, dominated by the plate and the spot, learns
    last (measured: 31 dB after 250 steps, the classic detector's AP@0.1 on the reconstructions 0.02).
    ``weights`` (the batch's shape, or None) weights both terms per pixel, normalised by their mean so
    that the loss keeps its scale (``crack_weights`` in :mod:`benchbench_sd.base`); the MSE returned is
    the plain one, what PSNR scores."""
    import torch

    dist = vae.encode(pixels).latent_dist
    recon = vae.decode(dist.sample(generator=gen)).sample
    mse = torch.nn.functional.mse_loss(recon, pixels)
    kl = dist.kl().mean() / pixels[0].numel()  # per pixel, like the MSE
    if weights is None:  # the recipe of the committed measurements, term for term
        loss = mse + KL_WEIGHT * kl
        if edge_weight:
            for dim in (2, 3):
                loss = loss + edge_weight * torch.nn.functional.l1_loss(torch.diff(recon, dim=dim),
                                                                        torch.diff(pixels, dim=dim))
        return loss, float(mse.detach())
    w = weights / weights.mean()
    loss = (w * (recon - pixels) ** 2).mean() + KL_WEIGHT * kl
    if edge_weight:
        for dim in (2, 3):  # a difference's weight: the larger of its two pixels'
            pair = torch.maximum(w.narrow(dim, 0, w.shape[dim] - 1), w.narrow(dim, 1, w.shape[dim] - 1))
            loss = loss + edge_weight * (pair * (torch.diff(recon, dim=dim) - torch.diff(pixels, dim=dim)).abs()).mean()
    return loss, float(mse.detach())


def augment(batch: Any, gen: Any, patch: int | None = None) -> Any:
    """A random ``patch`` x ``patch`` window (one per batch), random flips and 90-degree turns: a crack
    is a crack in any orientation for the autoencoder, and a convolutional VAE without attention
    learns the same filters on windows at a quarter of the cost of whole 128-px frames."""
    import torch

    if patch is not None and patch < batch.shape[-1]:
        top, left = (int(v) for v in torch.randint(0, batch.shape[-1] - patch + 1, (2,), generator=gen))
        batch = batch[:, :, top:top + patch, left:left + patch]
    k, flip = (int(v) for v in torch.randint(0, 4, (2,), generator=gen))
    batch = torch.rot90(batch, k, dims=(2, 3))
    return torch.flip(batch, dims=(3,)) if flip % 2 else batch


def round_trip(vae: Any, image: np.ndarray) -> np.ndarray:
    """An HxWx3 uint8 frame through the VAE (encoder mean, then decoder), at its own size: padded by
    reflection to a multiple of the VAE's downsampling, the padding cut off again."""
    import torch
    from PIL import Image

    channels = int(vae.config.in_channels)
    factor = downsampling(vae)
    arr = np.asarray(Image.fromarray(image).convert("L" if channels == 1 else "RGB"), dtype=np.float32)
    arr = arr / 127.5 - 1.0
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    h, w = arr.shape[1:]
    x = torch.from_numpy(np.pad(arr, ((0, 0), (0, (-h) % factor), (0, (-w) % factor)), mode="reflect"))[None]
    with torch.no_grad():
        y = vae.decode(vae.encode(x).latent_dist.mode()).sample[0, :, :h, :w].numpy()
    y = np.clip(np.rint((y + 1.0) * 127.5), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return np.ascontiguousarray(np.repeat(y, 3, axis=2) if channels == 1 else y)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio (dB) of two uint8 images, on their grey (first) channel."""
    mse = float(np.mean((a[..., 0].astype(np.float64) - b[..., 0].astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)
