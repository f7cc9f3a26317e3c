"""benchbench plugin: Stable Diffusion (DreamBooth) generators ``sd`` and ``sd-masked`` (its positive pipeline
drawing each cracked frame around a training crack mask) and their commands, hooked in by the diffusion
kit's ``generator_hooks`` (import strings: loading the plugin imports no torch)."""

from __future__ import annotations

from benchbench.api import hookimpl
from benchbench.diffusion import generator_hooks

__version__ = "0.1.0"

# a tuple, not two names: pluggy would take a marked hook function under another name for an unknown hook
_SD_HOOKS = generator_hooks(
    "sd", "benchbench_sd.generator:StableDiffusionGenerator", commands="benchbench_sd.cli:add_commands",
    uses_guidance=True)
benchbench_register_commands = _SD_HOOKS[1]


@hookimpl
def benchbench_register_generators(register):
    _SD_HOOKS[0](register)
    # its cracked frames carry crack masks, not boxes: a row gives it labeler: mask (or teacher, to cross-check)
    register("sd-masked", "benchbench_sd.masked:MaskedSdGenerator", uses_guidance=True, gives_boxes=False)
