"""Click wiring of ``bench train dreambooth``, ``bench train sd-base`` and ``bench generators init-tiny sd``.

Imports only click and the torch-free prompt constants: torch, diffusers and
accelerate are imported inside the command bodies (the hook fires at every CLI start).
"""

from __future__ import annotations

from pathlib import Path

import click

from benchbench.diffusion import (
    GROUP_HELP,
    add_generator_commands,
    ensure_group,
    init_tiny_command,
    training_options,
    training_summary,
)
from benchbench_sd.prompts import INSTANCE_PROMPT
from benchbench_sd.tiny import NOISE_SCHEDULES

_DIR = click.Path(path_type=Path, file_okay=False)


@click.command("dreambooth")
@click.option("--base", required=True, type=_DIR,
              help="Base Stable Diffusion pipeline folder (local): SD v1.5, or the output of bench train sd-base.")
@click.option("--instance-dir", required=True, type=_DIR, help="Folder of training images (e.g. Classes/crack).")
@click.option("--prompt", default=INSTANCE_PROMPT, show_default=True, help="Instance prompt.")
@click.option("--out", required=True, type=_DIR, help="Output folder: a loadable StableDiffusionPipeline.")
@click.option("--class-dir", type=_DIR, default=None,
              help="Class images for prior preservation (missing ones are generated with the base model).")
@click.option("--class-prompt", default=None, help="Prompt of the class images (needed with --class-dir).")
@click.option("--prior-loss-weight", default=1.0, show_default=True, type=float)
@click.option("--num-class-images", default=100, show_default=True, type=int)
@click.option("--class-steps", default=50, show_default=True, type=int, help="Sampling steps for class images.")
@click.option("--resolution", default=None, type=int,
              help="Training resolution (default: the base's native size, 512 for SD v1.5).")
@click.option("--batch", default=1, show_default=True, type=int)
@click.option("--lr", default=5e-6, show_default=True, type=float)
@click.option("--lr-schedule", default="constant", show_default=True,
              type=click.Choice(["constant", "constant_with_warmup", "linear", "cosine"]))
@click.option("--warmup-steps", default=0, show_default=True, type=int)
@click.option("--steps", default=10_000, show_default=True, type=int, help="Optimizer steps.")
@click.option("--train-text-encoder/--freeze-text-encoder", default=True, show_default=True)
@click.option("--grad-accum", default=1, show_default=True, type=int)
@click.option("--max-grad-norm", default=1.0, show_default=True, type=float)
@click.option("--gradient-checkpointing", is_flag=True, help="Trade compute for GPU memory.")
@click.option("--mask", is_flag=True,
              help="Also read each instance frame's crack mask (masks/ beside the instance folder) as an input "
                   "channel, its weights starting at zero: the positive model of sd-masked.")
@training_options(checkpoint_every=500)
def dreambooth(**options: object) -> None:
    """DreamBooth-fine-tune a local Stable Diffusion pipeline (seed paper's defaults)."""
    from benchbench_sd.train import DreamBoothConfig, train_dreambooth

    cfg = DreamBoothConfig(**options)  # type: ignore[arg-type]
    click.echo(training_summary(cfg.out, train_dreambooth(cfg)))


@click.command("sd-base")
@click.option("--data", required=True, type=_DIR,
              help="Exported training frames (crack/ and sane/): bench data export MATRIX --fold I --split train.")
@click.option("--out", required=True, type=_DIR,
              help="Output folder: a StableDiffusionPipeline (the --base of dreambooth).")
@click.option("--size", default=128, show_default=True, type=int, help="Frame size (px) of the VAE and the pipeline.")
@click.option("--vae-width", default=32, show_default=True, type=int, help="VAE channels (widths w, 2w, 2w).")
@click.option("--vae-latent", default=4, show_default=True, type=int,
              help="Latent channels (SD: 4). More keep fainter detail at the UNet's cost of in/out channels only.")
@click.option("--vae-levels", default=2, show_default=True, type=int,
              help="VAE levels: 2 downsamples by 2 (keeps 1-2 px crack steps), 3 by 4 (SD's; a quarter of the "
                   "UNet's cost; the cracks fade unless --crack-weight is set).")
@click.option("--vae-steps", default=2000, show_default=True, type=int)
@click.option("--vae-lr", default=1e-3, show_default=True, type=float)
@click.option("--vae-patch", default=64, show_default=True, type=int,
              help="VAE training windows (px) cut from the --size frames.")
@click.option("--vae-edge", default=1.0, show_default=True, type=float,
              help="Weight of the L1 loss on image differences (keeps faint crack steps).")
@click.option("--unet-width", default=32, show_default=True, type=int, help="UNet channels (widths w, 2w, 2w).")
@click.option("--text-width", default=64, show_default=True, type=int, help="CLIP text encoder width.")
@click.option("--unet-steps", default=2000, show_default=True, type=int, help="0: train and save the VAE only.")
@click.option("--unet-lr", default=3e-4, show_default=True, type=float)
@click.option("--batch", default=8, show_default=True, type=int)
@click.option("--cond-drop", default=0.1, show_default=True, type=float,
              help="Share of captions replaced by the empty prompt (classifier-free guidance).")
@click.option("--noise-schedule", default="sd15", show_default=True, type=click.Choice(list(NOISE_SCHEDULES)),
              help="sd15: SD v1.5's betas, noise prediction; zero-snr: rescaled to zero terminal SNR with "
                   "v-prediction, so a base trained from scratch can draw dark and bright frames.")
@click.option("--crack-weight", default=0.0, show_default=True, type=float,
              help="Extra loss weight on the cracked frames' crack pixels (grown by 1 px), VAE and UNet alike; "
                   "needs the masks bench data export writes from a masks-layout dataset. 0: none.")
@training_options(checkpoint_every=250)
def sd_base(**options: object) -> None:
    """Train a Stable Diffusion base (VAE, then text-conditioned UNet) from a fold's training frames."""
    from benchbench_sd.base import SdBaseConfig, train_sd_base

    cfg = SdBaseConfig(**options)  # type: ignore[arg-type]
    log = train_sd_base(cfg)
    for phase in ("vae", "unet"):
        if phase in log:
            p = log[phase]
            click.echo(f"{phase}: {p['steps']} steps, {p['seconds']:.0f} s ({p['steps_per_s']} steps/s), "
                       f"loss {p['first_loss']:.4g} -> {p['last_loss']:.4g}")
    click.echo(f"saved {cfg.out}" + ("" if cfg.unet_steps else " (VAE only: OUT/vae)"))


init_tiny_sd = init_tiny_command("sd", "benchbench_sd.tiny:build_tiny_sd", size=64, multiple=8, channels=3,
                                 help="Tiny random Stable Diffusion pipeline with a real CLIP tokenizer.")


def add_commands(cli: click.Group) -> None:
    """Attach the commands to ``bench`` (creating the train/generators groups if core has not)."""
    add_generator_commands(cli, train=dreambooth, init_tiny=init_tiny_sd)
    ensure_group(cli, "train", GROUP_HELP["train"]).add_command(sd_base)
