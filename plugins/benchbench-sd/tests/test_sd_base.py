"""`bench train sd-base` on an exported training set (tiny sizes): a loadable pipeline, exact resume, the
leakage guard through DreamBooth, guidance that acts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from benchbench.api import GenerationRequest, UserError
from benchbench.testing import torch_threads

pytestmark = pytest.mark.usefixtures("no_network")

MATRIX = """name: sdbase
seed: [0]
data: {{dataset: simulated, n: 24, size: 64, seed: 0}}
split: {{test_groups: [Sample5]}}
generators:
  - {{name: sd, plugin: sd, weights: '{weights}', steps: 2, seeds: [0]}}
detectors:
  - {{name: classic, plugin: classic}}
axes:
  synthetic_ratio: [0, 1]
labeler: {{kind: teacher, threshold: 0.3}}
"""
TINY = ["--size", "32", "--vae-width", "8", "--vae-latent", "8", "--vae-patch", "16", "--vae-steps", "4",
        "--unet-width", "8", "--text-width", "16", "--unet-steps", "4", "--batch", "2", "--checkpoint-every", "2",
        "--quiet", "--device", "cpu"]


def bench(*args: str) -> subprocess.CompletedProcess:
    # this plugin only, whatever the calling suite allows (the project's conftest allows none)
    env = {**os.environ, "BENCHBENCH_PLUGINS": "sd"}
    return subprocess.run([sys.executable, "-m", "benchbench.cli", *args], capture_output=True, text=True, env=env)


def invoke(cli, *args: str) -> str:
    with torch_threads(1):  # as the resumed run (one_thread_torch): bit-identical only so
        result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def weights(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return {f"{f.parent.name}.{k}": v for f in sorted(folder.glob("*/*.safetensors")) if f.parent.name != "checkpoints"
            for k, v in load_file(str(f)).items()}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Path]:
    """A matrix over simulated specimens (Sample5 held out) and its exported train and test sides."""
    root = tmp_path_factory.mktemp("sdbase")
    matrix = root / "m.yaml"
    matrix.write_text(MATRIX.format(weights=root / "db"))
    out = {"matrix": matrix}
    for part in ("train", "test"):
        res = bench("data", "export", str(matrix), "--split", part, "--out", str(root / part))
        assert res.returncode == 0, res.stderr
        out[part] = root / part
    return out


@pytest.fixture(scope="module")
def base(cli, exported) -> Path:
    out = exported["matrix"].parent / "base"
    text = invoke(cli, "train", "sd-base", "--data", str(exported["train"]), "--out", str(out), *TINY)
    assert "vae: 4 steps" in text and "unet: 4 steps" in text
    return out


@pytest.mark.slow
def test_sd_base_writes_a_loadable_pipeline(base, exported):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(str(base), local_files_only=True, safety_checker=None)
    assert pipe.vae.config.in_channels == 1 and pipe.unet.config.sample_size == 16  # 32 px, 2x VAE
    # the UNet denoises as many latent channels as the VAE gives (8 here, not SD's 4)
    assert pipe.vae.config.latent_channels == pipe.unet.config.in_channels == pipe.unet.config.out_channels == 8
    assert pipe.tokenizer("a surface crack").input_ids[1:-1] != []  # the offline tokenizer
    log = json.loads((base / "train_log.json").read_text())
    assert log["vae"]["steps_per_s"] > 0 and len(log["unet"]["losses"]) == 4
    assert np.isfinite(log["vae"]["scaling_factor"]) and pipe.vae.config.scaling_factor == log["vae"]["scaling_factor"]
    manifest = json.loads((base / "training-manifest.json").read_text())
    assert manifest["trainer"] == "bench train sd-base" and "Sample5" not in manifest["groups"]
    assert manifest["n_frames"] == sum(len(list((exported["train"] / c).iterdir())) for c in ("crack", "sane"))


@pytest.mark.slow
def test_resume_continues_exactly(base, exported, cli, tmp_path):
    """Only the step-2 checkpoints of both phases left: the resumed run ends bit-identical."""
    out = tmp_path / "resumed"
    for phase in ("vae", "unet"):
        shutil.copytree(base / "checkpoints" / phase / "step-0000002", out / "checkpoints" / phase / "step-0000002")
    invoke(cli, "train", "sd-base", "--data", str(exported["train"]), "--out", str(out), *TINY, "--resume")
    log = json.loads((out / "train_log.json").read_text())
    assert log["vae"]["resumed_from"] == 2 and log["unet"]["resumed_from"] == 2
    ref = json.loads((base / "train_log.json").read_text())
    assert log["unet"]["losses"] == ref["unet"]["losses"]
    a, b = weights(base), weights(out)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_a_finished_vae_is_reused(base, exported, cli, tmp_path):
    """A VAE-only run (--unet-steps 0) continued with --resume trains the UNet on that VAE, as one run would."""
    out = tmp_path / "vae-first"
    shutil.copytree(base / "vae", out / "vae")
    invoke(cli, "train", "sd-base", "--data", str(exported["train"]), "--out", str(out), *TINY, "--resume")
    log = json.loads((out / "train_log.json").read_text())
    assert log["vae"]["reused"] is True and log["unet"]["resumed_from"] == 0
    a, b = weights(base), weights(out)
    assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_resume_refuses_other_settings(base, exported, cli, tmp_path):
    out = tmp_path / "other"
    shutil.copytree(base / "checkpoints", out / "checkpoints")
    args = ["train", "sd-base", "--data", str(exported["train"]), "--out", str(out), *TINY, "--resume",
            "--vae-lr", "0.01"]
    result = CliRunner().invoke(cli, args)
    assert isinstance(result.exception, UserError) and "vae_lr" in str(result.exception)


@pytest.mark.slow
def test_crack_weight_trains_on_the_exported_masks(base, exported, cli, tmp_path):
    """--crack-weight reads masks/ of the export (the simulated frames' masks), changes both phases' losses,
    and a base trained without it is not resumed with it."""
    masks = sorted((exported["train"] / "masks").iterdir())
    assert masks and {p.stem for p in masks} == {p.stem for p in (exported["train"] / "crack").iterdir()}
    out = tmp_path / "weighted"
    invoke(cli, "train", "sd-base", "--data", str(exported["train"]), "--out", str(out), *TINY, "--crack-weight", "20")
    log, ref = (json.loads((d / "train_log.json").read_text()) for d in (out, base))
    assert log["config"]["crack_weight"] == 20
    for phase in ("vae", "unet"):
        assert log[phase]["losses"] != ref[phase]["losses"]
    resumed = tmp_path / "resumed"
    shutil.copytree(base / "checkpoints", resumed / "checkpoints")
    result = CliRunner().invoke(cli, ["train", "sd-base", "--data", str(exported["train"]), "--out", str(resumed),
                                      *TINY, "--resume", "--crack-weight", "20"])
    assert isinstance(result.exception, UserError) and "crack_weight" in str(result.exception)


def test_crack_weight_without_masks_is_a_user_error(cli, tmp_path):
    for label in ("crack", "sane"):
        (tmp_path / label).mkdir()
        Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / label / "a.png")
    result = CliRunner().invoke(cli, ["train", "sd-base", "--data", str(tmp_path), "--out", str(tmp_path / "o"),
                                      "--crack-weight", "5"])
    assert isinstance(result.exception, UserError) and result.exception.field == "--crack-weight"
    assert "masks/" in str(result.exception)


def test_zero_snr_schedule_leaves_no_signal_at_the_last_step():
    """SD v1.5's betas keep sqrt(alpha_bar) = 0.068 of the frame at t = 999, the rescaled ones none; the training
    scheduler built from the saved one keeps that and v-prediction."""
    from diffusers import DDPMScheduler

    from benchbench_sd.tiny import NOISE_SCHEDULES

    sd15 = DDPMScheduler.from_config(NOISE_SCHEDULES["sd15"]().config)
    zero = DDPMScheduler.from_config(NOISE_SCHEDULES["zero-snr"]().config)
    assert float(sd15.alphas_cumprod[-1].sqrt()) == pytest.approx(0.068, abs=1e-3)
    assert float(zero.alphas_cumprod[-1]) == 0.0 and zero.config.prediction_type == "v_prediction"


def test_the_zero_snr_samplers_are_those_diffusers_can_rescale():
    import inspect

    import diffusers

    from benchbench_sd.generator import SCHEDULERS, ZERO_SNR_SCHEDULERS

    can = {name for name, cls in SCHEDULERS.items()
           if "rescale_betas_zero_snr" in inspect.signature(getattr(diffusers, cls).__init__).parameters}
    assert can == set(ZERO_SNR_SCHEDULERS)


@pytest.mark.slow
def test_a_zero_snr_base_trains_on_v_and_refuses_pndm(base, exported, cli, tmp_path):
    """--noise-schedule zero-snr on the base's VAE: another UNet, a pipeline whose scheduler carries the rescaled
    betas into every sampler that can use them (PNDM cannot: refused), finite frames; an sd15 checkpoint does not
    resume under it."""
    import torch

    from benchbench_sd.generator import StableDiffusionGenerator, load_pipeline

    out = tmp_path / "zero-snr"
    shutil.copytree(base / "vae", out / "vae")
    invoke(cli, "train", "sd-base", "--data", str(exported["train"]), "--out", str(out), *TINY, "--resume",
           "--noise-schedule", "zero-snr")
    log = json.loads((out / "train_log.json").read_text())
    ref = json.loads((base / "train_log.json").read_text())
    assert log["vae"]["reused"] is True and log["unet"]["losses"] != ref["unet"]["losses"]
    pipe = load_pipeline(out, scheduler="ddim")
    assert pipe.scheduler.config.rescale_betas_zero_snr and pipe.scheduler.config.prediction_type == "v_prediction"
    frame = load_pipeline(out)(prompt="", num_inference_steps=2, output_type="np",
                               generator=torch.Generator().manual_seed(0)).images
    assert np.isfinite(frame).all()
    with pytest.raises(UserError, match="zero-terminal-SNR"):
        load_pipeline(out, scheduler="pndm")
    with pytest.raises(UserError, match="zero-terminal-SNR") as err:  # at matrix validation, before any frame
        StableDiffusionGenerator(weights=out, scheduler="pndm")
    assert err.value.field == "scheduler"
    other = tmp_path / "other"
    shutil.copytree(base / "checkpoints", other / "checkpoints")
    result = CliRunner().invoke(cli, ["train", "sd-base", "--data", str(exported["train"]), "--out", str(other),
                                      *TINY, "--resume", "--noise-schedule", "zero-snr"])
    assert isinstance(result.exception, UserError) and "noise_schedule" in str(result.exception)


@pytest.mark.slow
def test_dreambooth_from_the_base_and_the_leakage_guard(base, exported, cli, tmp_path):
    """DreamBooth fine-tunes the base at its native size; its manifest carries the base's frames, so a base
    that saw a test specimen's frame is refused by `bench validate`, through the fine-tuned weights."""
    db = exported["matrix"].parent / "db"
    invoke(cli, "train", "dreambooth", "--base", str(base), "--instance-dir", str(exported["train"] / "crack"),
           "--out", str(db), "--steps", "2", "--lr", "1e-3", "--quiet", "--device", "cpu")
    log = json.loads((db / "train_log.json").read_text())
    assert log["config"]["resolution"] == 32  # the base's native size
    manifest = json.loads((db / "training-manifest.json").read_text())
    assert manifest["base"]["trainer"] == "bench train sd-base"
    assert sum(f.get("via") == "base" for f in manifest["frames"]) == json.loads(
        (base / "training-manifest.json").read_text())["n_frames"]
    res = bench("validate", str(exported["matrix"]))
    assert res.returncode == 0, res.stdout + res.stderr

    leaky = tmp_path / "leaky"
    shutil.copytree(exported["train"], leaky)
    test_frame = sorted((exported["test"] / "crack").iterdir())[0]
    shutil.copy(test_frame, leaky / "crack" / test_frame.name)
    leaky_base = tmp_path / "leaky-base"
    invoke(cli, "train", "sd-base", "--data", str(leaky), "--out", str(leaky_base), *TINY)
    clean = tmp_path / "clean"
    shutil.move(db, clean)
    invoke(cli, "train", "dreambooth", "--base", str(leaky_base), "--instance-dir", str(exported["train"] / "crack"),
           "--out", str(db), "--steps", "1", "--quiet", "--device", "cpu")
    res = bench("validate", str(exported["matrix"]))
    assert res.returncode == 2 and "trained on test specimen Sample5" in res.stderr + res.stdout, res.stderr
    # a pair: the leaky folder as the positive, behind a clean negative, is refused too
    pair = exported["matrix"].parent / "pair.yaml"
    pair.write_text(exported["matrix"].read_text().replace(f"weights: '{db}'",
                                                          f"negative: '{clean}', positive: '{db}'"))
    res = bench("validate", str(pair))
    assert res.returncode == 2 and "trained on test specimen Sample5" in res.stderr + res.stdout, res.stderr


@pytest.mark.slow
def test_guidance_changes_the_frames(base, bench_ctx):
    from benchbench_sd.generator import StableDiffusionGenerator

    gen = StableDiffusionGenerator(weights=base, steps=3, scheduler="ddim", batch=2)
    frames = {g: [f.image for f in gen.generate(GenerationRequest(label="crack", n=2, guidance=g, seed=3, size=32),
                                                bench_ctx)] for g in (1.0, 3.0, 7.5)}
    again = [f.image for f in gen.generate(GenerationRequest(label="crack", n=2, guidance=3.0, seed=3, size=32),
                                           bench_ctx)]
    assert all(np.array_equal(a, b) for a, b in zip(frames[3.0], again, strict=True))  # same seed, same frames
    for g, h in ((1.0, 3.0), (3.0, 7.5)):
        assert any(not np.array_equal(a, b) for a, b in zip(frames[g], frames[h], strict=True)), (g, h)


def test_bad_data_is_a_user_error(cli, tmp_path):
    (tmp_path / "crack").mkdir()
    result = CliRunner().invoke(cli, ["train", "sd-base", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert isinstance(result.exception, UserError) and "crack/" in result.exception.field
    result = CliRunner().invoke(cli, ["train", "sd-base", "--data", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert isinstance(result.exception, UserError) and result.exception.field == "--data"


@pytest.mark.slow
def test_a_three_level_vae_downsamples_by_four(exported, cli, tmp_path):
    """--vae-levels 3 (SD's 4x): latents at a quarter of the frame size, and the UNet and the pipeline follow."""
    from diffusers import StableDiffusionPipeline

    out = tmp_path / "levels3"
    invoke(cli, "train", "sd-base", "--data", str(exported["train"]), "--out", str(out), *TINY, "--vae-levels", "3")
    pipe = StableDiffusionPipeline.from_pretrained(str(out), local_files_only=True, safety_checker=None)
    assert pipe.vae_scale_factor == 4 and pipe.unet.config.sample_size == 8
    bad = CliRunner().invoke(cli, ["train", "sd-base", "--data", str(exported["train"]), "--out", str(tmp_path / "x"),
                                   *TINY, "--vae-levels", "4"])
    assert isinstance(bad.exception, UserError) and bad.exception.field == "--vae-levels"


def test_vae_check_scores_psnr_and_the_detectors_ap(tmp_path):
    """A random VAE: low PSNR; a detector that sees the boxes whatever the pixels: AP 1 on every version."""
    from benchbench.testing import make_context, tiny_frames
    from benchbench_sd.vae import build_vae
    from benchbench_sd.vaecheck import vae_check

    frames = tiny_frames(6, size=48)
    truth = [list(f.boxes) for f in frames]  # the check predicts the frames in order

    class Oracle:
        def fit(self, train, val, ctx):
            self.fitted = len(train)

        def predict(self, batch, ctx):
            assert len(batch) == len(truth)
            return truth

    with torch_threads(1):
        result = vae_check(build_vae(8, size=32).eval(), frames, frames, Oracle, make_context(tmp_path), size=32)
    assert result["frames"] == 6 and result["crack_frames"] == len(frames.positives()) > 0
    assert set(result["ap0.1"].values()) == {1.0} and len(result["ap0.1"]) == 4 and result["ap_gap"] == 0
    assert result["psnr_db"]["mean"] < 20 and result["passes"] == {"psnr": False, "cracks_survive": True}
