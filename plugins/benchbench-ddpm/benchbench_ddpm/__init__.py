"""benchbench plugin: unconditional DDPM generator ``ddpm`` (one model per class) and its commands.

Only hook implementations live here; they register import strings, so loading the
plugin imports neither torch nor diffusers.
"""

from __future__ import annotations

from benchbench.hookspecs import hookimpl

__version__ = "0.1.0"


@hookimpl
def benchbench_register_generators(register):
    register("ddpm", "benchbench_ddpm.generator:DdpmGenerator", uses_guidance=False, gives_boxes=False)


@hookimpl
def benchbench_register_commands(cli):
    from benchbench_ddpm.cli import add_commands

    add_commands(cli)
