"""Click wiring of ``bench train ddpm`` and ``bench generators init-tiny ddpm``.

Imports only click: torch, diffusers and accelerate are imported inside the command
bodies (the hook fires at every CLI start).
"""

from __future__ import annotations

from pathlib import Path

import click

from benchbench.diffusion import add_generator_commands, init_tiny_command, training_options, training_summary

_DIR = click.Path(path_type=Path, file_okay=False)


@click.command("ddpm")
@click.option("--data", required=True, type=_DIR, help="Classes-layout folder with crack/ and sane/ images.")
@click.option("--out", required=True, type=_DIR, help="Output folder: OUT/crack and OUT/sane DDPM pipelines.")
@click.option("--size", default=64, show_default=True, type=int, help="Training resolution (px).")
@click.option("--channels", default="1", show_default=True, type=click.Choice(["1", "3"]),
              help="1: grey (the FLYD frames are grey content), 3: RGB.")
@click.option("--width", default=64, show_default=True, type=int, help="UNet base channels (multiple of 8).")
@click.option("--levels", default=4, show_default=True, type=int, help="UNet resolutions.")
@click.option("--layers", default=2, show_default=True, type=int, help="ResNet layers per UNet block.")
@click.option("--attention/--no-attention", default=True, show_default=True)
@click.option("--steps", default=None, type=int, help="Optimizer steps per class.")
@click.option("--epochs", default=None, type=int, help="Epochs per class (default 100 when --steps is not given).")
@click.option("--batch", default=16, show_default=True, type=int)
@click.option("--lr", default=1e-4, show_default=True, type=float)
@click.option("--lr-schedule", default="cosine", show_default=True,
              type=click.Choice(["constant", "constant_with_warmup", "linear", "cosine"]))
@click.option("--warmup-steps", default=500, show_default=True, type=int)
@click.option("--flip/--no-flip", default=True, show_default=True, help="Random horizontal flips.")
@click.option("--init", default=None, type=_DIR,
              help="Start from these crack/ and sane/ pipelines (guided/ with --guided).")
@click.option("--class", "classes", multiple=True, type=click.Choice(["crack", "sane"]),
              help="Train only these classes (default both).")
@click.option("--guided", is_flag=True,
              help="Train ONE class-conditional model (OUT/guided) for classifier-free guidance (ddpm-guided).")
@click.option("--cond-drop", default=0.1, show_default=True, type=float,
              help="--guided: share of training samples whose class is replaced by the null class.")
@click.option("--mask", is_flag=True,
              help="--guided: also read each frame's crack mask (masks/ beside crack/) as an input channel, for "
                   "ddpm-masked; with --init from a guided model, its mask weights start at zero.")
@training_options(checkpoint_every=1000)
def train_ddpm_cmd(channels: str, classes: tuple[str, ...], **options: object) -> None:
    """Train one unconditional DDPM per class (crack, sane), or one guided model (--guided)."""
    from benchbench_ddpm.model import CLASSES
    from benchbench_ddpm.train import DdpmTrainConfig, train_ddpm

    cfg = DdpmTrainConfig(channels=int(channels), classes=tuple(classes) or CLASSES, **options)  # type: ignore[arg-type]
    log = train_ddpm(cfg)
    for label, hist in log["classes"].items():
        click.echo(training_summary(Path(cfg.out) / label, hist))


init_tiny_ddpm = init_tiny_command("ddpm", "benchbench_ddpm.tiny:build_tiny_ddpm", size=32, multiple=4, channels=1,
                                   help="Tiny random DDPM pipelines OUT/crack and OUT/sane.")


def add_commands(cli: click.Group) -> None:
    """Attach the commands to ``bench`` (creating the train/generators groups if core has not)."""
    add_generator_commands(cli, train=train_ddpm_cmd, init_tiny=init_tiny_ddpm)
