"""`bench train ddpm --guided` and the ddpm-guided generator: one class-conditional model, guidance acts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benchbench.api import GenerationRequest, UserError
from benchbench.testing import torch_threads

pytestmark = pytest.mark.usefixtures("no_network")

ARGS = ["--guided", "--size", "16", "--width", "16", "--levels", "2", "--layers", "1", "--steps", "8", "--batch",
        "4", "--lr", "2e-3", "--warmup-steps", "0", "--lr-schedule", "constant", "--checkpoint-every", "4",
        "--quiet", "--device", "cpu"]


@pytest.fixture(scope="module")
def guided(cli, classes_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ddpm-guided") / "weights"
    with torch_threads(1):  # as the resume test runs (one_thread_torch): bit-identical only so
        result = CliRunner().invoke(cli, ["train", "ddpm", "--data", str(classes_dir), "--out", str(out), *ARGS])
    assert result.exit_code == 0, (result.output, result.exception)
    return out


def make(weights, **params):
    from benchbench_ddpm.guided import GuidedDdpmGenerator

    params.setdefault("steps", 3)
    return GuidedDdpmGenerator(weights=weights, **params)


def req(label="crack", n=3, guidance=None, start=0, seed=0):
    return GenerationRequest(label=label, n=n, guidance=guidance, seed=seed, size=24, start_index=start)


def test_one_conditional_model_learns_both_classes(guided):
    from diffusers import UNet2DModel

    log = json.loads((guided / "train_log.json").read_text())
    hist = log["classes"]["guided"]
    assert list(log["classes"]) == ["guided"] and hist["images"] == 10 and hist["steps"] == 8
    assert hist["probe"][-1][1] < hist["probe"][0][1]
    unet = UNet2DModel.from_pretrained(str(guided / "guided" / "unet"))
    assert unet.config.num_class_embeds == 3  # crack, sane, null
    manifest = json.loads((guided / "training-manifest.json").read_text())
    assert {f["label"] for f in manifest["frames"]} == {"crack", "sane"} and len(manifest["frames"]) == 10
    assert make(guided).training_manifest()["n_frames"] == 10  # what the leakage guard checks


def test_conformance(guided, bench_ctx):
    from benchbench.testing import check_generator

    check_generator(lambda: make(guided, batch=2), bench_ctx, size=24, guidance=3.0)


def test_guidance_changes_the_frames_and_defaults_to_the_parameter(guided, bench_ctx):
    gen = make(guided)
    frames = {g: np.stack([f.image for f in gen.generate(req(guidance=g), bench_ctx)]) for g in (0.0, 1.0, 7.5)}
    assert not np.array_equal(frames[0.0], frames[1.0]) and not np.array_equal(frames[1.0], frames[7.5])
    default = np.stack([f.image for f in make(guided, guidance=7.5).generate(req(), bench_ctx)])
    assert np.array_equal(default, frames[7.5])
    sane = np.stack([f.image for f in gen.generate(req("sane", guidance=1.0), bench_ctx)])
    assert not np.array_equal(sane, frames[1.0])  # the class label reaches the network
    assert make(guided).fingerprint() != make(guided, guidance=7.5).fingerprint()


def test_start_index_matches_longer_request(guided, bench_ctx):
    gen = make(guided, batch=2, sampler="ddpm", steps=4)
    long = gen.generate(req(n=4, guidance=2.0), bench_ctx)
    part = gen.generate(req(n=2, start=2, guidance=2.0), bench_ctx)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(long[2:], part, strict=True))


def test_resume_continues_exactly(guided, classes_dir, tmp_path):
    from benchbench_ddpm.train import DdpmTrainConfig, train_ddpm

    out = tmp_path / "resumed"
    shutil.copytree(guided / "checkpoints" / "guided" / "step-0000004", out / "checkpoints" / "guided" / "step-0000004")
    cfg = DdpmTrainConfig(data=classes_dir, out=out, guided=True, size=16, width=16, levels=2, layers=1, steps=8,
                          batch=4, lr=2e-3, warmup_steps=0, lr_schedule="constant", checkpoint_every=4, quiet=True,
                          device="cpu", resume=True)
    log = train_ddpm(cfg)
    ref = json.loads((guided / "train_log.json").read_text())
    assert log["classes"]["guided"]["resumed_from"] == 4
    assert log["classes"]["guided"]["losses"] == ref["classes"]["guided"]["losses"]


def test_bad_weights_and_options_are_user_errors(guided, tiny_ddpm, cli, classes_dir, tmp_path, bench_ctx):
    with pytest.raises(UserError, match="weights"):
        make(None)
    with pytest.raises(UserError) as err:
        make(guided, guidance=-1)
    assert err.value.field == "guidance"
    with pytest.raises(UserError, match="--guided"):  # an unconditional pipeline has no class embedding
        make(tiny_ddpm / "crack").generate(req(), bench_ctx)
    result = CliRunner().invoke(cli, ["train", "ddpm", "--data", str(classes_dir), "--out", str(tmp_path / "o"),
                                      "--guided", "--cond-drop", "1.5"])
    assert isinstance(result.exception, UserError) and result.exception.field == "--cond-drop"


def test_class_and_timestep_reach_a_narrow_network():
    """With one channel per GroupNorm group the embeddings were normalised away (outputs equal to 1e-6)."""
    import torch

    from benchbench_ddpm.model import build_unet

    torch.manual_seed(0)
    unet = build_unet(size=16, channels=1, width=16, levels=2, layers=1, conditional=True)
    x = torch.randn(1, 1, 16, 16)
    with torch.no_grad():
        out = {(t, c): unet(x, t, class_labels=torch.tensor([c])).sample for t in (10, 900) for c in (0, 2)}
    assert (out[10, 0] - out[10, 2]).abs().max() > 1e-3 and (out[10, 0] - out[900, 0]).abs().max() > 1e-3
