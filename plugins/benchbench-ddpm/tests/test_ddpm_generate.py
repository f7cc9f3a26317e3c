"""Tiny DDPMs through the real loading and sampling code: determinism, format, samplers."""

from __future__ import annotations

import numpy as np
import pytest

from benchbench.api import GenerationRequest

pytestmark = pytest.mark.usefixtures("no_network")


def make(weights, **params):
    from benchbench_ddpm.generator import DdpmGenerator

    params.setdefault("steps", 4)
    return DdpmGenerator(weights=weights, **params)


def req(label="crack", n=3, guidance=None, seed=0, size=32, start=0):
    return GenerationRequest(label=label, n=n, guidance=guidance, seed=seed, size=size, start_index=start)


def same(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(x.image, y.image) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_generator_conformance(tiny_ddpm, bench_ctx, sampler):
    from benchbench.testing import check_generator

    check_generator(lambda: make(tiny_ddpm, sampler=sampler, batch=3), bench_ctx, size=32, guidance=None)


def test_frames_are_grey_frames_at_request_size(tiny_ddpm, bench_ctx):
    frames = make(tiny_ddpm).generate(req("sane", n=2, size=40), bench_ctx)
    for f in frames:
        assert f.image.shape == (40, 40, 3) and f.image.dtype == np.uint8 and f.boxes == ()
        assert np.array_equal(f.image[..., 0], f.image[..., 2])
        assert f.source == "synthetic:ddpm"
    assert [f.meta["name"] for f in frames] == ["ddpm-sane-0-000000", "ddpm-sane-0-000001"]


def test_classes_use_their_own_model(tiny_ddpm, bench_ctx):
    gen = make(tiny_ddpm)
    assert not np.array_equal(gen.generate(req("crack", n=1), bench_ctx)[0].image,
                              gen.generate(req("sane", n=1), bench_ctx)[0].image)


@pytest.mark.parametrize("batch", [1, 4])
def test_start_index_matches_longer_request(tiny_ddpm, bench_ctx, batch):
    gen = make(tiny_ddpm, batch=batch)
    long = gen.generate(req(n=6), bench_ctx)
    assert same(gen.generate(req(n=3, start=3), bench_ctx), long[3:])
    assert same(gen.generate(req(n=2, start=1), bench_ctx), long[1:3])


def test_independent_of_batch_size(tiny_ddpm, bench_ctx):
    """Per-image generators; kernels may move a pixel by one grey level between batch shapes."""
    frames = {b: make(tiny_ddpm, batch=b).generate(req(n=5), bench_ctx) for b in (1, 2, 5)}
    for b in (2, 5):
        for x, y in zip(frames[1], frames[b], strict=True):
            assert np.abs(x.image.astype(int) - y.image.astype(int)).max() <= 1


def test_guidance_is_ignored(tiny_ddpm, bench_ctx):
    gen = make(tiny_ddpm)
    assert same(gen.generate(req(n=1, guidance=7.0), bench_ctx), gen.generate(req(n=1, guidance=10.0), bench_ctx))


def test_ddim_eta_and_channels(tiny_ddpm, bench_ctx):
    base = make(tiny_ddpm, sampler="ddim").generate(req(n=1), bench_ctx)[0].image
    noisy = make(tiny_ddpm, sampler="ddim", eta=1.0).generate(req(n=1), bench_ctx)[0].image
    assert not np.array_equal(base, noisy)
    rgb = make(tiny_ddpm, channels=3).generate(req(n=1), bench_ctx)[0].image  # grey model: still grey
    assert np.array_equal(rgb[..., 0], rgb[..., 1])


def test_fingerprint(tiny_ddpm, tmp_path):
    import shutil

    fp = make(tiny_ddpm).fingerprint()
    assert fp == make(tiny_ddpm).fingerprint()
    assert fp != make(tiny_ddpm, steps=5).fingerprint()
    assert fp != make(tiny_ddpm, sampler="ddim").fingerprint()
    assert fp != make(tiny_ddpm, batch=2).fingerprint()
    assert make(tiny_ddpm, eta=0.5).fingerprint() == fp  # eta only matters for ddim
    pair = make(None, crack=tiny_ddpm / "crack", sane=tiny_ddpm / "sane")
    assert pair.fingerprint() == fp
    copy = shutil.copytree(tiny_ddpm, tmp_path / "copy")
    (copy / "sane" / "scheduler" / "scheduler_config.json").write_text(
        (copy / "sane" / "scheduler" / "scheduler_config.json").read_text().replace("linear", "scaled_linear"))
    assert make(copy).fingerprint() != fp
