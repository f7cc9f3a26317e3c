"""Small randomly initialised DDPM pipelines (one per class), built offline for tests and demos."""

from __future__ import annotations

from pathlib import Path

from benchbench_ddpm.model import CLASSES, build_scheduler, build_unet, save_pipeline


def build_tiny_ddpm(out: str | Path, *, size: int = 32, channels: int = 1, seed: int = 0) -> Path:
    """Write ``out/crack`` and ``out/sane``: tiny UNet2DModel + DDPMScheduler pipelines (< 1 MB each).

    ``size`` must be a multiple of 4 (3 resolutions).
    """
    import torch

    out = Path(out)
    for k, label in enumerate(CLASSES):
        torch.manual_seed(seed * len(CLASSES) + k)  # different random weights per class
        unet = build_unet(size=size, channels=channels, width=16, levels=3, layers=1, attention=True)
        save_pipeline(unet, build_scheduler(), out / label)
    return out
