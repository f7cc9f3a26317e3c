"""Click wiring of ``bench train dreambooth`` and ``bench generators init-tiny sd``.

Imports only click and the torch-free prompt constants: torch, diffusers and
accelerate are imported inside the command bodies (the hook fires at every CLI start).
"""

from __future__ import annotations

from pathlib import Path

import click

from benchbench.diffusion import add_generator_commands, init_tiny_command, training_options, training_summary
from benchbench_sd.prompts import INSTANCE_PROMPT

_DIR = click.Path(path_type=Path, file_okay=False)


@click.command("dreambooth")
@click.option("--base", required=True, type=_DIR, help="Base Stable Diffusion pipeline folder (local).")
@click.option("--instance-dir", required=True, type=_DIR, help="Folder of training images (e.g. Classes/crack).")
@click.option("--prompt", default=INSTANCE_PROMPT, show_default=True, help="Instance prompt.")
@click.option("--out", required=True, type=_DIR, help="Output folder: a loadable StableDiffusionPipeline.")
@click.option("--class-dir", type=_DIR, default=None,
              help="Class images for prior preservation (missing ones are generated with the base model).")
@click.option("--class-prompt", default=None, help="Prompt of the class images (needed with --class-dir).")
@click.option("--prior-loss-weight", default=1.0, show_default=True, type=float)
@click.option("--num-class-images", default=100, show_default=True, type=int)
@click.option("--class-steps", default=50, show_default=True, type=int, help="Sampling steps for class images.")
@click.option("--resolution", default=512, show_default=True, type=int)
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
@training_options(checkpoint_every=500)
def dreambooth(**options: object) -> None:
    """DreamBooth-fine-tune a local Stable Diffusion pipeline (seed paper's defaults)."""
    from benchbench_sd.train import DreamBoothConfig, train_dreambooth

    cfg = DreamBoothConfig(**options)  # type: ignore[arg-type]
    click.echo(training_summary(cfg.out, train_dreambooth(cfg)))


init_tiny_sd = init_tiny_command("sd", "benchbench_sd.tiny:build_tiny_sd", size=64, multiple=8, channels=3,
                                 help="Tiny random Stable Diffusion pipeline with a real CLIP tokenizer.")


def add_commands(cli: click.Group) -> None:
    """Attach the commands to ``bench`` (creating the train/generators groups if core has not)."""
    add_generator_commands(cli, train=dreambooth, init_tiny=init_tiny_sd)
