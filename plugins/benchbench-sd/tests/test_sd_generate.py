"""Tiny SD pipelines through the real loading and sampling code: determinism, format, guidance."""

from __future__ import annotations

import numpy as np
import pytest

from benchbench.api import Frame, GenerationRequest

pytestmark = pytest.mark.usefixtures("no_network")

STEPS = 3


def make(weights, **params):
    from benchbench_sd.generator import StableDiffusionGenerator

    params.setdefault("steps", STEPS)
    params.setdefault("batch", 1)
    params.setdefault("scheduler", "ddim")
    return StableDiffusionGenerator(weights=weights, **params)


def req(label="crack", n=3, guidance=7.5, seed=0, size=64, start=0):
    return GenerationRequest(label=label, n=n, guidance=guidance, seed=seed, size=size, start_index=start)


def same(a: list[Frame], b: list[Frame]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x.image, y.image) for x, y in zip(a, b, strict=True))


def test_generator_conformance(tiny_sd, bench_ctx):
    from benchbench.testing import check_generator

    summary = check_generator(lambda: make(tiny_sd, batch=3), bench_ctx, size=64, guidance=8.5)
    assert summary["frames"] == 8


def test_frames_follow_the_protocol(tiny_sd, bench_ctx):
    gen = make(tiny_sd, batch=2)
    cracked = gen.generate(req("crack", n=3, seed=5, start=4), bench_ctx)
    sane = gen.generate(req("sane", n=2, seed=5), bench_ctx)
    assert len(cracked) == 3 and len(sane) == 2
    for f in cracked + sane:
        assert f.path is None and f.source == "synthetic:sd"
        assert f.image.dtype == np.uint8 and f.image.shape == (64, 64, 3) and (f.width, f.height) == (64, 64)
        # channels=1 (default): grey content on 3 channels, like the real 8-bit FLYD frames
        assert np.array_equal(f.image[..., 0], f.image[..., 1]) and np.array_equal(f.image[..., 1], f.image[..., 2])
        assert f.image.std() > 0
    assert all(f.label == "crack" and f.boxes is None for f in cracked)
    assert all(f.label == "sane" and f.boxes == () for f in sane)
    assert [f.meta["name"] for f in cracked] == ["sd-crack-5-000004", "sd-crack-5-000005", "sd-crack-5-000006"]


def test_same_seed_same_bytes_fresh_instances(tiny_sd, bench_ctx):
    a = make(tiny_sd).generate(req(n=2, seed=3), bench_ctx)
    b = make(tiny_sd).generate(req(n=2, seed=3), bench_ctx)
    assert same(a, b)
    c = make(tiny_sd).generate(req(n=2, seed=4), bench_ctx)
    assert not np.array_equal(a[0].image, c[0].image)
    assert not np.array_equal(a[0].image, a[1].image)


@pytest.mark.parametrize("batch", [1, 3])
def test_start_index_matches_longer_request(tiny_sd, bench_ctx, batch):
    gen = make(tiny_sd, batch=batch)
    long = gen.generate(req(n=5), bench_ctx)
    assert same(gen.generate(req(n=2, start=3), bench_ctx), long[3:5])
    assert same(gen.generate(req(n=1, start=1), bench_ctx), long[1:2])


def test_independent_of_batch_size(tiny_sd, bench_ctx):
    """Per-image generators: the same image whatever the batch. Kernels pick algorithms by
    batch shape (a batch-1 Linear is a matrix-vector product), so pixels may move by one
    grey level between batch sizes; the fingerprint therefore includes batch."""
    frames = {b: make(tiny_sd, batch=b).generate(req(n=4), bench_ctx) for b in (1, 2, 4)}
    for b in (2, 4):
        for x, y in zip(frames[1], frames[b], strict=True):
            assert np.abs(x.image.astype(int) - y.image.astype(int)).max() <= 1
    fps = {make(tiny_sd, batch=b).fingerprint() for b in (1, 2, 4)}
    assert len(fps) == 3


def test_guidance_changes_output(tiny_sd, bench_ctx):
    gen = make(tiny_sd)
    low = gen.generate(req(n=1, guidance=1.0), bench_ctx)[0].image
    high = gen.generate(req(n=1, guidance=9.0), bench_ctx)[0].image
    assert np.abs(low.astype(int) - high.astype(int)).sum() > 0
    rescaled = make(tiny_sd, guidance_rescale=0.7).generate(req(n=1, guidance=9.0), bench_ctx)[0].image
    assert not np.array_equal(rescaled, high)


def test_prompt_per_class_and_request_prompt(tiny_sd, bench_ctx):
    gen = make(tiny_sd)
    crack = gen.generate(req("crack", n=1), bench_ctx)[0].image
    own = make(tiny_sd, crack_prompt="a sane frame").generate(req("crack", n=1), bench_ctx)[0].image
    override = gen.generate(GenerationRequest(label="crack", n=1, guidance=7.5, seed=0, size=64,
                                              prompt="a sane frame"), bench_ctx)[0].image
    assert not np.array_equal(crack, own)
    assert np.array_equal(own, override)


def test_negative_positive_folders(tiny_sd, bench_ctx):
    from benchbench_sd.generator import StableDiffusionGenerator

    pair = StableDiffusionGenerator(negative=tiny_sd, positive=tiny_sd, steps=STEPS, scheduler="ddim", batch=1)
    one = make(tiny_sd)
    assert same(pair.generate(req("sane", n=1), bench_ctx), one.generate(req("sane", n=1), bench_ctx))
    assert pair.fingerprint() == one.fingerprint()


@pytest.mark.parametrize("scheduler", ["default", "pndm", "euler", "dpm", "ddpm", "euler-a"])
def test_schedulers(tiny_sd, bench_ctx, scheduler):
    gen = make(tiny_sd, scheduler=scheduler, steps=2)
    frames = gen.generate(req(n=1), bench_ctx)
    assert frames[0].image.shape == (64, 64, 3)
    assert same(frames, make(tiny_sd, scheduler=scheduler, steps=2).generate(req(n=1), bench_ctx))


def test_size_and_channels(tiny_sd, bench_ctx):
    small = make(tiny_sd).generate(req(n=1, size=48), bench_ctx)[0]
    assert small.image.shape == (48, 48, 3) and (small.width, small.height) == (48, 48)
    wide = make(tiny_sd, size=32).generate(req(n=1, size=32), bench_ctx)[0]
    assert wide.image.shape == (32, 32, 3)
    colour = make(tiny_sd, channels=3).generate(req(n=1), bench_ctx)[0].image
    assert not np.array_equal(colour[..., 0], colour[..., 1])  # random tiny VAE: channels differ


def test_fingerprint(tiny_sd, tmp_path):
    import shutil

    fp = make(tiny_sd).fingerprint()
    assert fp == make(tiny_sd).fingerprint() and len(fp) == 64
    assert fp != make(tiny_sd, steps=STEPS + 1).fingerprint()
    assert fp != make(tiny_sd, scheduler="euler").fingerprint()
    assert fp != make(tiny_sd, crack_prompt="x").fingerprint()
    assert fp != make(tiny_sd, guidance_rescale=0.7).fingerprint()
    assert make(tiny_sd, guidance_rescale=0).fingerprint() == fp  # off: frames cached before the option keep theirs
    copy = shutil.copytree(tiny_sd, tmp_path / "copy")
    assert make(copy).fingerprint() == fp  # content, not location
    (copy / "checkpoints").mkdir()
    (copy / "checkpoints" / "junk.bin").write_bytes(b"x")
    assert make(copy).fingerprint() == fp  # only pipeline components count
    cfg = copy / "unet" / "config.json"
    cfg.write_text(cfg.read_text().replace('"sample_size": 16', '"sample_size": 16 '))
    assert make(copy).fingerprint() != fp


def test_empty_request(tiny_sd, bench_ctx):
    assert make(tiny_sd).generate(req(n=0), bench_ctx) == []
