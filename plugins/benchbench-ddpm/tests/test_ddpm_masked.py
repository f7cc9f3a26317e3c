"""`bench train ddpm --guided --mask` and the ddpm-masked generator: cracked frames drawn around the fold's
crack masks, each frame carrying its mask (the boxes of `labeler: mask`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benchbench.api import FrameSet, GenerationRequest, UserError
from benchbench.testing import tiny_frames, torch_threads

pytestmark = pytest.mark.usefixtures("no_network")

ARGS = ["--size", "16", "--width", "16", "--levels", "2", "--layers", "1", "--steps", "6", "--batch", "4",
        "--lr", "2e-3", "--warmup-steps", "0", "--lr-schedule", "constant", "--checkpoint-every", "3", "--quiet",
        "--device", "cpu"]


def train(cli, data: Path, out: Path, *extra: str):
    with torch_threads(1):
        return CliRunner().invoke(cli, ["train", "ddpm", "--data", str(data), "--out", str(out), *ARGS, *extra])


@pytest.fixture(scope="module")
def masked(cli, classes_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ddpm-masked") / "weights"
    result = train(cli, classes_dir, out, "--guided", "--mask")
    assert result.exit_code == 0, (result.output, result.exception)
    return out


@pytest.fixture(scope="module")
def calibration(masked) -> dict:
    train_frames = FrameSet(tiny_frames(12, size=40, positive_fraction=0.5), "train")
    return make(masked).calibrate(train_frames)


def make(weights, **params):
    from benchbench_ddpm.masked import MaskedDdpmGenerator

    params.setdefault("steps", 3)
    return MaskedDdpmGenerator(weights=weights, **params)


def req(calibration=None, label="crack", n=3, guidance=3.0, start=0, seed=0, size=24):
    return GenerationRequest(label=label, n=n, guidance=guidance, seed=seed, size=size, start_index=start,
                             calibration=calibration)


def test_the_model_reads_a_mask_channel(masked):
    from diffusers import UNet2DModel

    unet = UNet2DModel.from_pretrained(str(masked / "guided" / "unet"))
    assert (unet.config.in_channels, unet.config.out_channels, unet.config.num_class_embeds) == (2, 1, 3)
    log = json.loads((masked / "train_log.json").read_text())
    assert log["config"]["mask"] is True and log["classes"]["guided"]["steps"] == 6


def test_calibration_reads_the_training_masks_at_the_model_size(masked, calibration):
    assert calibration["mask_size"] == 16 and len(calibration["masks"]) == 6  # one per cracked frame
    assert all(0 < len(m) < 16 * 16 and max(m) < 16 * 16 for m in calibration["masks"])
    sane = FrameSet([f for f in tiny_frames(6, size=40, positive_fraction=0.5) if f.label == "sane"], "train")
    with pytest.raises(UserError, match="crack masks"):  # nothing to draw around
        make(masked).calibrate(sane)


def test_conformance_with_its_calibration(masked, calibration, bench_ctx):
    from benchbench.testing import check_generator

    check_generator(lambda: make(masked, batch=2), bench_ctx, size=24, guidance=3.0, calibration=calibration)


def test_each_cracked_frame_carries_the_mask_it_was_drawn_around(masked, calibration, bench_ctx):
    from benchbench.diffusion import jittered_mask

    frames = make(masked, batch=2).generate(req(calibration, n=4), bench_ctx)
    for i, f in enumerate(frames):
        drawn = jittered_mask(calibration["masks"], 16, 0, i, 2)
        assert f.meta["mask"].shape == (24, 24) and f.meta["mask"].any() and f.boxes is None
        assert f.meta["mask"].sum() >= drawn.sum()  # upsampled 16 -> 24 px, every covered pixel kept
    part = make(masked, batch=2).generate(req(calibration, n=2, start=2), bench_ctx)
    for a, b in zip(frames[2:], part, strict=True):  # frame i (image and mask) whatever the request's start
        assert np.array_equal(a.image, b.image) and np.array_equal(a.meta["mask"], b.meta["mask"])
    sane = make(masked).generate(req(calibration, label="sane"), bench_ctx)
    assert all("mask" not in f.meta and f.boxes == () for f in sane)


def test_the_mask_reaches_the_network(masked, calibration, bench_ctx):
    gen = make(masked)
    base = np.stack([f.image for f in gen.generate(req(calibration), bench_ctx)])
    moved = {**calibration, "masks": [[i for i in range(16 * 16) if i % 16 == 3]] * len(calibration["masks"])}
    other = np.stack([f.image for f in gen.generate(req(moved), bench_ctx)])
    assert not np.array_equal(base, other)
    guided = {g: np.stack([f.image for f in gen.generate(req(calibration, guidance=g), bench_ctx)]) for g in (1, 7.5)}
    assert not np.array_equal(guided[1], guided[7.5])


def test_jittered_mask_mirrors_and_shifts_within_bounds():
    from benchbench.diffusion import jittered_mask

    column = [r * 16 + 5 for r in range(4, 12)]  # a vertical crack at column 5, rows 4-11
    cols, rows = set(), set()
    for i in range(64):
        m = jittered_mask([column], 16, 0, i, 2)
        ys, xs = np.nonzero(m)
        assert len(ys) == 8 and len(set(xs.tolist())) == 1
        cols.add(int(xs[0]))
        rows.add(int(ys.min()))
        assert np.array_equal(m, jittered_mask([column], 16, 0, i, 2))
    assert cols == {3, 4, 5, 6, 7} | {8, 9, 10, 11, 12} and rows == {2, 3, 4, 5, 6}  # 5 or its mirror 10, +-2


def test_mask_errors_name_the_field_and_the_fix(masked, calibration, cli, classes_dir, tmp_path, bench_ctx):
    from benchbench_ddpm.guided import GuidedDdpmGenerator

    with pytest.raises(UserError, match="no calibration"):
        make(masked).generate(req(None), bench_ctx)
    assert len(make(masked).generate(req(None, label="sane"), bench_ctx)) == 3  # sane frames need no mask
    with pytest.raises(UserError, match="ddpm-masked"):  # the plain plugin refuses a mask model
        GuidedDdpmGenerator(weights=masked, steps=3).generate(req(calibration), bench_ctx)
    with pytest.raises(UserError) as err:
        make(masked, jitter=-1)
    assert err.value.field == "jitter"
    result = train(cli, classes_dir, tmp_path / "o", "--mask")
    assert isinstance(result.exception, UserError) and result.exception.field == "--mask"
    no_masks = tmp_path / "no-masks"
    for label in ("crack", "sane"):
        (no_masks / label).mkdir(parents=True)
        for p in (classes_dir / label).iterdir():
            (no_masks / label / p.name).write_bytes(p.read_bytes())
    result = train(cli, no_masks, tmp_path / "o2", "--guided", "--mask")
    assert isinstance(result.exception, UserError) and "masks" in str(result.exception)


def test_init_from_a_guided_model_adds_a_zero_mask_channel(cli, classes_dir, tmp_path):
    """Started from a guided DDPM, the mask model predicts what it did, whatever the mask, before any step."""
    import torch

    from benchbench.diffusion import takes_mask, with_mask_channel
    from benchbench_ddpm.model import build_unet

    torch.manual_seed(0)
    unet = build_unet(size=16, channels=1, width=16, levels=2, layers=1, conditional=True)
    wider = with_mask_channel(unet)
    assert takes_mask(wider) and not takes_mask(unet)
    x, mask = torch.randn(2, 1, 16, 16), (torch.rand(2, 1, 16, 16) > 0.5).float()
    with torch.no_grad():
        before = unet(x, 50, class_labels=torch.tensor([0, 1])).sample
        after = wider(torch.cat([x, mask], 1), 50, class_labels=torch.tensor([0, 1])).sample
    assert torch.allclose(before, after, atol=1e-6)
    plain = tmp_path / "plain"
    assert train(cli, classes_dir, plain, "--guided").exit_code == 0
    result = train(cli, classes_dir, tmp_path / "fine", "--guided", "--mask", "--init", str(plain))
    assert result.exit_code == 0, (result.output, result.exception)
    log = json.loads((tmp_path / "fine" / "train_log.json").read_text())
    assert log["config"]["init"] == str(plain) and log["config"]["mask"] is True
    manifest = json.loads((tmp_path / "fine" / "training-manifest.json").read_text())
    assert manifest["base"]["path"] == str(plain) and sum(f.get("via") == "base" for f in manifest["frames"]) == 10
    result = train(cli, classes_dir, tmp_path / "back", "--guided", "--init", str(tmp_path / "fine"))
    assert isinstance(result.exception, UserError) and result.exception.field == "--init"
