"""benchbench plugin: DDPM generators — ``ddpm`` (one unconditional model per class) and ``ddpm-guided``
(one class-conditional model with classifier-free guidance), ``ddpm-masked`` (that model drawing each cracked
frame around a training crack mask) — and their commands."""

from __future__ import annotations

from benchbench.api import hookimpl
from benchbench.diffusion import generator_hooks

__version__ = "0.2.0"

# a tuple, not two names: pluggy would take a marked hook function under another name for an unknown hook
_DDPM_HOOKS = generator_hooks(
    "ddpm", "benchbench_ddpm.generator:DdpmGenerator", commands="benchbench_ddpm.cli:add_commands",
    uses_guidance=False)
benchbench_register_commands = _DDPM_HOOKS[1]


@hookimpl
def benchbench_register_generators(register):
    _DDPM_HOOKS[0](register)
    register("ddpm-guided", "benchbench_ddpm.guided:GuidedDdpmGenerator", uses_guidance=True, gives_boxes=False)
    # its frames carry crack masks, not boxes: a row gives it labeler: mask (or teacher, to cross-check)
    register("ddpm-masked", "benchbench_ddpm.masked:MaskedDdpmGenerator", uses_guidance=True, gives_boxes=False)
