"""Registration, lazy imports, parameter validation, CLI wiring and the tiny tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import benchbench_sd
from benchbench.api import UserError
from benchbench.testing import heavy_imports, registrations
from benchbench_sd.prompts import CRACK_PROMPT, INSTANCE_PROMPT, SANE_PROMPT


def test_import_leaves_torch_out():
    code = "import benchbench_sd, benchbench_sd.generator, benchbench_sd.cli, benchbench_sd.train, benchbench_sd.masked"
    assert heavy_imports(code, ("torch", "diffusers", "transformers", "accelerate")) == []


def test_registers_import_string_with_meta():
    assert registrations(benchbench_sd.benchbench_register_generators) == [
        ("sd", "benchbench_sd.generator:StableDiffusionGenerator", {"uses_guidance": True, "gives_boxes": False}),
        ("sd-masked", "benchbench_sd.masked:MaskedSdGenerator", {"uses_guidance": True, "gives_boxes": False})]


def test_entry_point_resolves():
    from importlib.metadata import entry_points

    eps = {ep.name: ep for ep in entry_points(group="benchbench")}
    assert eps["sd"].load() is benchbench_sd


def test_default_prompts_are_the_seeds():
    import inspect

    from benchbench_sd.generator import StableDiffusionGenerator

    params = inspect.signature(StableDiffusionGenerator).parameters
    assert params["sane_prompt"].default == SANE_PROMPT == (
        "An infrared thermal frame from the laser scan recording of a metallic part, without surface crack.")
    assert params["crack_prompt"].default == CRACK_PROMPT == (
        "An infrared thermal frame from the laser scan recording of a metallic part, presenting a surface crack.")


@pytest.mark.parametrize(("params", "field"), [
    ({}, "weights"),  # neither way of naming them: the kit's error, alike in every diffusion plugin
    ({"negative": "/nonexistent/neg", "positive": "/nonexistent/pos"}, "negative"),
    ({"weights": "/nonexistent/w"}, "weights"),
])
def test_missing_weights_name_the_field(params, field):
    from benchbench_sd.generator import StableDiffusionGenerator

    with pytest.raises(UserError) as err:
        StableDiffusionGenerator(**params)
    assert err.value.field == field
    assert "\n" not in str(err.value)


def test_missing_positive_names_its_field(tiny_sd):
    from benchbench_sd.generator import StableDiffusionGenerator

    with pytest.raises(UserError) as err:
        StableDiffusionGenerator(negative=tiny_sd, positive=tiny_sd.parent / "nope")
    assert err.value.field == "positive"


@pytest.mark.parametrize("value", [-0.1, 1.5, "0.7"])
def test_guidance_rescale_out_of_range_names_its_field(tiny_sd, value):
    from benchbench_sd.generator import StableDiffusionGenerator

    with pytest.raises(UserError) as err:
        StableDiffusionGenerator(weights=tiny_sd, guidance_rescale=value)
    assert err.value.field == "guidance_rescale"


def test_not_a_pipeline_folder(tmp_path):
    from benchbench_sd.generator import StableDiffusionGenerator

    with pytest.raises(UserError, match="model_index.json") as err:
        StableDiffusionGenerator(weights=tmp_path)
    assert err.value.field == "weights"


@pytest.mark.parametrize(("params", "field"), [
    ({"scheduler": "lms"}, "scheduler"), ({"channels": 2}, "channels"), ({"size": 60}, "size"),
    ({"steps": 0}, "steps"), ({"batch": 0}, "batch"), ({"dtype": "int8"}, "dtype"),
    ({"crack_prompt": ""}, "crack_prompt"),
])
def test_bad_params(tiny_sd, params, field):
    from benchbench_sd.generator import StableDiffusionGenerator

    with pytest.raises(UserError) as err:
        StableDiffusionGenerator(weights=tiny_sd, **params)
    assert err.value.field == field


def test_weights_and_pair_are_exclusive(tiny_sd):
    from benchbench_sd.generator import StableDiffusionGenerator

    with pytest.raises(UserError, match="either"):
        StableDiffusionGenerator(weights=tiny_sd, positive=tiny_sd)


def test_commands_added_to_groups(cli):
    assert isinstance(cli.commands["train"], click.Group)
    assert "dreambooth" in cli.commands["train"].commands
    assert "sd" in cli.commands["generators"].commands["init-tiny"].commands
    result = CliRunner().invoke(cli, ["train", "dreambooth", "--help"])
    assert result.exit_code == 0
    for option in ("--resolution", "--lr", "--steps", "--class-dir", "--prior-loss-weight", "--resume",
                   "--checkpoint-every"):
        assert option in result.output


def test_commands_join_existing_groups():
    """Core creates train/generators; the plugin adds to them instead of replacing them."""

    @click.group()
    def root() -> None:
        pass

    @root.group()
    def train() -> None:
        pass

    @train.command("other")
    def other() -> None:
        pass

    benchbench_sd.benchbench_register_commands(cli=root)
    assert root.commands["train"] is train
    assert set(train.commands) == {"other", "dreambooth", "sd-base"}


def test_dreambooth_defaults_are_the_seeds():
    from benchbench_sd.train import DreamBoothConfig

    cfg = DreamBoothConfig(base=Path("b"), instance_dir=Path("i"), out=Path("o"))
    # resolution None: the base's native size, 512 for SD v1.5 as in the seed (an sd-base's own otherwise)
    assert (cfg.resolution, cfg.batch, cfg.lr, cfg.lr_schedule, cfg.steps, cfg.train_text_encoder) == \
        (None, 1, 5e-6, "constant", 10_000, True)
    assert cfg.prompt == INSTANCE_PROMPT


def test_tiny_tokenizer_is_a_real_clip_bpe(tiny_sd):
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(str(tiny_sd / "tokenizer"))
    vocab = json.loads((tiny_sd / "tokenizer" / "vocab.json").read_text())
    assert len(tok) == len(vocab)
    ids = tok(CRACK_PROMPT).input_ids
    tokens = tok.convert_ids_to_tokens(ids)
    assert tokens[0] == "<|startoftext|>" and tokens[-1] == "<|endoftext|>"
    assert "crack</w>" in tokens and "infrared</w>" in tokens  # prompt words are single BPE tokens
    assert tok.decode(ids, skip_special_tokens=True).replace(" ,", ",").replace(" .", ".") == CRACK_PROMPT.lower()
    # Unknown words still tokenize (byte-level fallback), none maps to the unknown token.
    odd = tok("zebra 42 ümlaut").input_ids
    assert tok.unk_token_id not in odd[1:-1]
    assert tok.model_max_length == 77
    padded = tok(SANE_PROMPT, padding="max_length", max_length=77).input_ids
    assert len(padded) == 77
