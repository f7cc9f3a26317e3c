"""Command groups that plugins fill through ``benchbench_register_commands``."""

import click


@click.group()
def train() -> None:
    """Train generators (DreamBooth, DDPM, ...). Subcommands come from installed plugins."""


@click.group()
def generators() -> None:
    """Generator weights utilities, e.g. `bench generators init-tiny sd OUT`."""
