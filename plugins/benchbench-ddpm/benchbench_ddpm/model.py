"""The UNet2DModel and noise schedule of the DDPM generators (tiny init and training)."""

from __future__ import annotations

from typing import Any

CLASSES = ("crack", "sane")
GUIDED = "guided"  # the folder of the one class-conditional model (classifier-free guidance)
NULL_CLASS = len(CLASSES)  # the class label of the unconditional branch: index 2 of the class embedding


def build_unet(*, size: int, channels: int, width: int, levels: int, layers: int, attention: bool = True,
               conditional: bool = False, mask: bool = False) -> Any:
    """A UNet2DModel: ``levels`` resolutions with ``width * (1, 1, 2, 2, ...)``
    channels and, with ``attention``, self-attention at the first resolution of 16 px or
    less (Ho et al. use 16x16), else at the lowest one — never at full resolution, whose
    attention matrix grows with the fourth power of the size. ``conditional``: a class embedding
    of ``len(CLASSES) + 1`` rows (the last is the null class of classifier-free guidance), added to
    the timestep embedding. ``mask``: one more input channel, the crack mask the frame is drawn around
    (``ddpm-masked``); the output stays the image's noise."""
    from diffusers import UNet2DModel

    if levels < 2:
        raise ValueError("levels must be at least 2")
    if size % 2 ** (levels - 1):
        raise ValueError(f"size {size} must be divisible by {2 ** (levels - 1)} for {levels} levels")
    widths = tuple(width * (1 if i < 2 else 2) for i in range(levels))
    attn_level = attention_level(size, levels) if attention else -1
    down = tuple("AttnDownBlock2D" if i == attn_level else "DownBlock2D" for i in range(levels))
    up = tuple("AttnUpBlock2D" if levels - 1 - i == attn_level else "UpBlock2D" for i in range(levels))
    return UNet2DModel(sample_size=size, in_channels=channels + int(mask), out_channels=channels,
                       layers_per_block=layers,
                       block_out_channels=widths, down_block_types=down, up_block_types=up,
                       norm_num_groups=norm_groups(width), attention_head_dim=8,
                       num_class_embeds=NULL_CLASS + 1 if conditional else None)


def norm_groups(width: int) -> int:
    """GroupNorm groups of 4 channels at the narrowest level (Ho et al.: 32 groups of 128 channels).

    The timestep (and class) embedding is added to each channel as a constant before a GroupNorm: with
    one channel per group (the former gcd(32, width) at width 16 or 32) the norm subtracts it again, and
    the network never sees the timestep or the class at that level."""
    return max(1, min(32, width // 4))


def attention_level(size: int, levels: int) -> int:
    """Index of the first level whose resolution is <= 16 px (the lowest level at most, level 1 at least)."""
    level = next((i for i in range(levels) if size // 2 ** i <= 16), levels - 1)
    return max(1, level)


def build_scheduler(num_train_timesteps: int = 1000, beta_schedule: str = "linear") -> Any:
    """The DDPM training schedule (Ho et al.: linear betas 1e-4..0.02, 1000 steps, epsilon target)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule,
                         prediction_type="epsilon")


def save_pipeline(unet: Any, scheduler: Any, out: Any) -> None:
    from diffusers import DDPMPipeline

    DDPMPipeline(unet=unet, scheduler=scheduler).save_pretrained(str(out), safe_serialization=True)
