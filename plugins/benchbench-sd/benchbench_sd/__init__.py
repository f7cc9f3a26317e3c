"""benchbench plugin: Stable Diffusion (DreamBooth) generator ``sd`` and its commands, hooked in by
the diffusion kit's ``generator_hooks`` (import strings: loading the plugin imports no torch)."""

from __future__ import annotations

from benchbench.diffusion import generator_hooks

__version__ = "0.1.0"

benchbench_register_generators, benchbench_register_commands = generator_hooks(
    "sd", "benchbench_sd.generator:StableDiffusionGenerator", commands="benchbench_sd.cli:add_commands",
    uses_guidance=True)
