"""benchbench plugin: unconditional DDPM generator ``ddpm`` (one model per class) and its commands.

Only hook implementations live here (made by the diffusion kit); they register import strings,
so loading the plugin imports neither torch nor diffusers.
"""

from __future__ import annotations

from benchbench.diffusion import generator_hooks

__version__ = "0.1.0"

benchbench_register_generators, benchbench_register_commands = generator_hooks(
    "ddpm", "benchbench_ddpm.generator:DdpmGenerator", commands="benchbench_ddpm.cli:add_commands",
    uses_guidance=False)
