"""Command groups that plugins fill through ``benchbench_register_commands``."""

import click

from benchbench.commands.generators import compare, score


@click.group()
def train() -> None:
    """Train generators (DreamBooth, DDPM, ...). Subcommands come from installed plugins."""


@click.group()
def generators() -> None:
    """Generator scores (score, compare) and weights utilities, e.g. `bench generators init-tiny sd OUT`."""


generators.add_command(score)
generators.add_command(compare)
