"""The hook implementations of a diffusion generator plugin: its generator and its commands."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from benchbench.hookspecs import hookimpl


def generator_hooks(name: str, target: str, *, commands: str, uses_guidance: bool,
                    gives_boxes: bool = False) -> tuple[Callable[..., None], Callable[..., None]]:
    """``benchbench_register_generators`` and ``benchbench_register_commands`` for a plugin's module.

    ``target`` is the generator's import string ("pkg.generator:Class") and ``commands`` names
    "pkg.cli:add_commands", a function given the root click group; both are imported only when
    used, so loading the plugin stays torch-free. Bind them at the plugin's top level::

        benchbench_register_generators, benchbench_register_commands = generator_hooks(
            "sd", "benchbench_sd.generator:StableDiffusionGenerator",
            commands="benchbench_sd.cli:add_commands", uses_guidance=True)
    """

    @hookimpl
    def benchbench_register_generators(register: Callable[..., Any]) -> None:
        register(name, target, uses_guidance=uses_guidance, gives_boxes=gives_boxes)

    @hookimpl
    def benchbench_register_commands(cli: Any) -> None:
        module, _, attr = commands.partition(":")
        getattr(importlib.import_module(module), attr)(cli)

    return benchbench_register_generators, benchbench_register_commands
