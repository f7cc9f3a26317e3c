"""benchbench plugin: unconditional DDPM generator ``ddpm`` (one model per class) and its commands;
the hooks are the diffusion kit's (see ``benchbench.diffusion.generator_hooks``)."""

from __future__ import annotations

from benchbench.diffusion import generator_hooks

__version__ = "0.1.0"

benchbench_register_generators, benchbench_register_commands = generator_hooks(
    "ddpm", "benchbench_ddpm.generator:DdpmGenerator", commands="benchbench_ddpm.cli:add_commands",
    uses_guidance=False)
