"""CLI wiring of generator plugins: their ``bench train`` and ``bench generators init-tiny`` commands."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from benchbench.diffusion.training import MIXED_PRECISION, TrainingRun
from benchbench.errors import UserError

# Whichever plugin creates a group first sets its help, so the texts live here, once.
GROUP_HELP = {"train": "Train generators.", "generators": "Generator weights utilities.",
              "init-tiny": "Write a small randomly initialised pipeline (offline; for tests, CI and demos)."}


def add_generator_commands(cli: Any, *, train: Any, init_tiny: Any) -> None:
    """Add a plugin's ``bench train NAME`` and ``bench generators init-tiny NAME`` commands,
    creating the groups when core (or another plugin) has not."""
    ensure_group(cli, "train", GROUP_HELP["train"]).add_command(train)
    generators = ensure_group(cli, "generators", GROUP_HELP["generators"])
    ensure_group(generators, "init-tiny", GROUP_HELP["init-tiny"]).add_command(init_tiny)


def training_summary(out: str | os.PathLike, log: dict[str, Any]) -> str:
    """The line a ``bench train`` command prints for one saved pipeline; ``log`` holds its
    ``steps``, ``seconds`` and ``probe`` ((step, loss) pairs: the loss on fixed probe noise)."""
    probe = log["probe"]
    return (f"saved {out} ({log['steps']} steps, {log['seconds']:.0f} s; probe loss "
            f"{probe[0][1]:.4f} -> {probe[-1][1]:.4f})")


def training_options(*, checkpoint_every: int) -> Callable[[Any], Any]:
    """A decorator adding the click options of :class:`TrainingRun`'s fields to a ``bench train``
    command (``--mixed-precision`` ... ``--quiet``); ``checkpoint_every`` is the plugin's default."""
    import click

    default = {f.name: f.default for f in fields(TrainingRun)} | {"checkpoint_every": checkpoint_every}
    options = [
        click.option("--mixed-precision", default=default["mixed_precision"], show_default=True,
                     type=click.Choice(MIXED_PRECISION)),
        click.option("--checkpoint-every", default=default["checkpoint_every"], show_default=True, type=int,
                     help="Optimizer steps between checkpoints."),
        click.option("--checkpoints-keep", default=default["checkpoints_keep"], show_default=True, type=int),
        click.option("--resume", is_flag=True, help="Continue from the last checkpoint(s) in OUT/checkpoints."),
        click.option("--seed", default=default["seed"], show_default=True, type=int),
        click.option("--device", default=default["device"], help="cpu, cuda, cuda:1 or auto (default: auto)."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]

    def add(command: Any) -> Any:
        for option in reversed(options):  # as stacked decorators: the first listed shows first
            command = option(command)
        return command

    return add


def init_tiny_command(name: str, build: str, *, size: int, multiple: int, channels: int, help: str) -> Any:
    """The ``bench generators init-tiny NAME OUT`` command of a plugin.

    It checks ``--size`` (a multiple of ``multiple``) and calls ``build(out, size=, channels=, seed=)``,
    named "module:function" so that the builder (which imports torch) is imported only when
    the command runs; ``size`` and ``channels`` are the option defaults.
    """
    import importlib

    import click

    @click.command(name, help=help)
    @click.argument("out", type=click.Path(path_type=Path, file_okay=False))
    @click.option("--size", default=size, show_default=True, type=int,
                  help=f"Native resolution (multiple of {multiple}).")
    @click.option("--channels", default=str(channels), show_default=True, type=click.Choice(["1", "3"]),
                  help="Image channels: 1 grey, 3 RGB.")
    @click.option("--seed", default=0, show_default=True, type=int)
    def command(out: Path, size: int, channels: str, seed: int) -> None:
        if size % multiple or size < multiple:
            raise UserError(f"size must be a multiple of {multiple}, not {size}", field="--size")
        module, _, attr = build.partition(":")
        written = getattr(importlib.import_module(module), attr)(out, size=size, channels=int(channels), seed=seed)
        from benchbench.data.provenance import write_training_manifest

        write_training_manifest(out, None, {}, trainer=f"bench generators init-tiny {name} (random weights)")
        click.echo(f"wrote {written}")

    return command


def ensure_group(parent: Any, name: str, help: str | None = None) -> Any:
    """The click sub-group ``name`` of ``parent``, created when core (or another plugin) has not."""
    import click

    group = parent.commands.get(name) if hasattr(parent, "commands") else None
    if group is None:
        group = click.Group(name=name, help=help)
        parent.add_command(group)
    elif not isinstance(group, click.Group):
        raise TypeError(f"bench command '{name}' exists and is not a group")
    return group
