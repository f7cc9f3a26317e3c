"""`bench train dreambooth --mask` and the sd-masked generator: cracked frames drawn around the fold's crack
masks by a positive pipeline whose UNet reads the mask, each frame carrying its mask."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benchbench.api import FrameSet, GenerationRequest, UserError, frame_mask
from benchbench.diffusion import MASKS_DIR
from benchbench.testing import tiny_frames, torch_threads

pytestmark = pytest.mark.usefixtures("no_network")


@pytest.fixture(scope="module")
def instance_dir(tmp_path_factory) -> Path:
    """crack/ of 4 simulated 64-px cracked frames, their masks in masks/ (the `bench data export` layout)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("export")
    (root / "crack").mkdir()
    (root / MASKS_DIR).mkdir()
    for f in [f for f in tiny_frames(8, size=64, positive_fraction=0.5) if f.label == "crack"]:
        Image.fromarray(f.load()).save(root / "crack" / f"{f.stem}.png")
        Image.fromarray(frame_mask(f).astype(np.uint8) * 255).save(root / MASKS_DIR / f"{f.stem}.png")
    return root / "crack"


def train(cli, base: Path, instance: Path, out: Path, *extra: str):
    args = ["train", "dreambooth", "--base", str(base), "--instance-dir", str(instance), "--out", str(out),
            "--resolution", "64", "--steps", "4", "--lr", "1e-3", "--checkpoint-every", "2", "--quiet",
            "--device", "cpu", *extra]
    with torch_threads(1):
        return CliRunner().invoke(cli, args)


@pytest.fixture(scope="module")
def positive(cli, tiny_sd, instance_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("db-mask") / "positive"
    result = train(cli, tiny_sd, instance_dir, out, "--mask")
    assert result.exit_code == 0, (result.output, result.exception)
    return out


@pytest.fixture(scope="module")
def calibration(tiny_sd, positive) -> dict:
    return make(tiny_sd, positive).calibrate(FrameSet(tiny_frames(12, size=80, positive_fraction=0.5), "train"))


def make(negative, positive, **params):
    from benchbench_sd.masked import MaskedSdGenerator

    params.setdefault("steps", 2)
    return MaskedSdGenerator(negative=negative, positive=positive, **params)


def req(calibration=None, label="crack", n=2, guidance=3.0, size=24, start=0):
    return GenerationRequest(label=label, n=n, guidance=guidance, seed=0, size=size, start_index=start,
                             calibration=calibration)


def test_the_positive_unet_reads_a_mask_channel(positive):
    config = json.loads((positive / "unet" / "config.json").read_text())
    assert (config["in_channels"], config["out_channels"]) == (5, 4)
    log = json.loads((positive / "train_log.json").read_text())
    assert log["config"]["mask"] is True and len(log["probe"]) == 2


def test_calibration_at_the_pipeline_resolution(calibration):
    assert calibration["mask_size"] == 64 and len(calibration["masks"]) == 6


def test_conformance_with_its_calibration(tiny_sd, positive, calibration, bench_ctx):
    from benchbench.testing import check_generator

    check_generator(lambda: make(tiny_sd, positive, batch=2), bench_ctx, size=24, guidance=3.0,
                    calibration=calibration)


def test_frames_carry_their_masks_and_the_mask_reaches_the_network(tiny_sd, positive, calibration, bench_ctx):
    gen = make(tiny_sd, positive, batch=2)
    frames = gen.generate(req(calibration, n=4), bench_ctx)
    assert all(f.meta["mask"].shape == (24, 24) and f.meta["mask"].any() and f.boxes is None for f in frames)
    part = gen.generate(req(calibration, n=2, start=2), bench_ctx)
    assert all(np.array_equal(a.image, b.image) and np.array_equal(a.meta["mask"], b.meta["mask"])
               for a, b in zip(frames[2:], part, strict=True))
    moved = {**calibration, "masks": [[i for i in range(64 * 64) if i % 64 in (40, 41)]] * 6}
    other = gen.generate(req(moved, n=4), bench_ctx)
    assert not np.array_equal(np.stack([f.image for f in frames]), np.stack([f.image for f in other]))
    plain = gen.generate(req(calibration, n=4, guidance=1.0), bench_ctx)
    assert not np.array_equal(np.stack([f.image for f in frames]), np.stack([f.image for f in plain]))
    sane = gen.generate(req(calibration, label="sane"), bench_ctx)
    assert all("mask" not in f.meta and f.boxes == () for f in sane)


@pytest.mark.parametrize(("guidance", "rescale"), [(1.0, 0.0), (7.5, 0.7)])
def test_masked_sampling_is_the_pipelines_loop(tiny_sd, guidance, rescale):
    """A UNet given a zero-weight mask channel must draw, whatever the mask, what the pipeline draws."""
    import torch

    from benchbench.diffusion import with_mask_channel
    from benchbench_sd.generator import load_pipeline
    from benchbench_sd.masked import masked_sample

    pipe = load_pipeline(tiny_sd, scheduler="euler-a")
    gens = lambda: [torch.Generator().manual_seed(s) for s in (3, 4)]  # noqa: E731
    ref = pipe(prompt=["a crack"] * 2, guidance_scale=guidance, guidance_rescale=rescale, num_inference_steps=3,
               height=64, width=64, generator=gens(), output_type="np").images
    pipe.unet = with_mask_channel(pipe.unet)
    mask = np.zeros((2, 64, 64), bool)
    mask[:, 10:50, 30:33] = True
    got = masked_sample(pipe, "a crack", guidance, rescale, 3, 64, gens(), mask)
    assert got.shape == ref.shape and np.allclose(got, ref, atol=1e-5)


def test_mask_errors_name_the_field_and_the_fix(cli, tiny_sd, positive, calibration, instance_dir, tmp_path,
                                                bench_ctx):
    from benchbench_sd.generator import StableDiffusionGenerator

    with pytest.raises(UserError) as err:  # the plain plugin refuses a mask model
        StableDiffusionGenerator(negative=tiny_sd, positive=positive, steps=2).generate(req(), bench_ctx)
    assert err.value.field == "positive" and "sd-masked" in err.value.fix
    with pytest.raises(UserError) as err:  # and sd-masked a positive without the mask channel
        make(tiny_sd, tiny_sd).generate(req(calibration), bench_ctx)
    assert err.value.field == "positive"
    with pytest.raises(UserError, match="no calibration"):
        make(tiny_sd, positive).generate(req(None), bench_ctx)
    with pytest.raises(UserError) as err:
        make(tiny_sd, positive, jitter=1.5)
    assert err.value.field == "jitter"
    bare = tmp_path / "bare"
    shutil.copytree(instance_dir, bare)  # the frames without their masks/ folder
    result = train(cli, tiny_sd, bare, tmp_path / "o", "--mask")
    assert isinstance(result.exception, UserError) and result.exception.field == "--instance-dir"
