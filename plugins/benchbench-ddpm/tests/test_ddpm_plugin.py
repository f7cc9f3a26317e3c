"""Registration, lazy imports, parameter validation and CLI wiring."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import benchbench_ddpm
from benchbench.api import UserError
from benchbench.testing import heavy_imports, plugin_cli, registrations


def test_import_leaves_torch_out():
    code = ("import benchbench_ddpm, benchbench_ddpm.generator, benchbench_ddpm.guided, benchbench_ddpm.cli, "
            "benchbench_ddpm.train, benchbench_ddpm.masked")
    assert heavy_imports(code, ("torch", "diffusers", "accelerate")) == []


def test_registers_ddpm_without_guidance_and_the_guided_ones_with_it():
    assert registrations(benchbench_ddpm.benchbench_register_generators) == [
        ("ddpm", "benchbench_ddpm.generator:DdpmGenerator", {"uses_guidance": False, "gives_boxes": False}),
        ("ddpm-guided", "benchbench_ddpm.guided:GuidedDdpmGenerator", {"uses_guidance": True, "gives_boxes": False}),
        ("ddpm-masked", "benchbench_ddpm.masked:MaskedDdpmGenerator", {"uses_guidance": True, "gives_boxes": False})]


def test_entry_point_resolves():
    from importlib.metadata import entry_points

    eps = {ep.name: ep for ep in entry_points(group="benchbench")}
    assert eps["ddpm"].load() is benchbench_ddpm


@pytest.mark.parametrize(("params", "field"), [
    ({}, "weights"),
    ({"weights": "/nonexistent/w"}, "weights"),
    ({"crack": "/nonexistent/c", "sane": "/nonexistent/s"}, "crack"),
])
def test_missing_weights_name_the_field(params, field):
    from benchbench_ddpm.generator import DdpmGenerator

    with pytest.raises(UserError) as err:
        DdpmGenerator(**params)
    assert err.value.field == field and "\n" not in str(err.value)


def test_weights_folder_needs_both_classes(tiny_ddpm, tmp_path):
    import shutil

    from benchbench_ddpm.generator import DdpmGenerator

    shutil.copytree(tiny_ddpm / "crack", tmp_path / "crack")
    with pytest.raises(UserError, match="sane") as err:
        DdpmGenerator(weights=tmp_path)
    assert err.value.field.startswith("weights")
    with pytest.raises(UserError) as err:
        DdpmGenerator(crack=tiny_ddpm / "crack", sane=tmp_path / "nope")
    assert err.value.field == "sane"


@pytest.mark.parametrize(("params", "field"), [
    ({"sampler": "euler"}, "sampler"), ({"steps": 0}, "steps"), ({"channels": 4}, "channels"),
    ({"batch": 0}, "batch"), ({"eta": -1}, "eta"), ({"dtype": "x"}, "dtype"),
])
def test_bad_params(tiny_ddpm, params, field):
    from benchbench_ddpm.generator import DdpmGenerator

    with pytest.raises(UserError) as err:
        DdpmGenerator(weights=tiny_ddpm, **params)
    assert err.value.field == field


def test_commands_added_to_groups(cli):
    assert "ddpm" in cli.commands["train"].commands
    assert "ddpm" in cli.commands["generators"].commands["init-tiny"].commands
    result = CliRunner().invoke(cli, ["train", "ddpm", "--help"])
    assert result.exit_code == 0
    for option in ("--data", "--out", "--steps", "--epochs", "--size", "--lr", "--resume"):
        assert option in result.output


def test_both_generator_plugins_share_the_groups():
    """sd and ddpm both add to `train` and `generators init-tiny` without clobbering."""
    import benchbench_sd

    root = plugin_cli(benchbench_sd, benchbench_ddpm)
    assert set(root.commands["train"].commands) == {"dreambooth", "sd-base", "ddpm"}
    assert set(root.commands["generators"].commands["init-tiny"].commands) == {"sd", "ddpm"}
