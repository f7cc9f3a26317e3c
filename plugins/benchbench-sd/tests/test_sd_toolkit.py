"""benchbench.diffusion, the toolkit shared by the sd and ddpm plugins (tested once, here)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchbench import diffusion
from benchbench.api import GenerationRequest, UserError


def test_import_is_torch_free():
    code = "import sys, benchbench.diffusion; print('torch' in sys.modules, 'diffusers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"


def test_image_seed_distinct_and_stable():
    seeds = {diffusion.image_seed(s, label, i) for s in range(3) for label in ("crack", "sane") for i in range(50)}
    assert len(seeds) == 300
    assert diffusion.image_seed(0, "crack", 7) == diffusion.image_seed(0, "crack", 7) < 2**63


def test_batch_indices_are_epoch_permutations():
    n, batch = 7, 3
    flat = [i for step in range(7) for i in diffusion.batch_indices(n, batch, step, seed=1)]  # 3 epochs
    for epoch in range(3):
        assert sorted(flat[epoch * n:(epoch + 1) * n]) == list(range(n))
    assert diffusion.batch_indices(n, batch, 5, seed=1) == diffusion.batch_indices(n, batch, 5, seed=1)
    assert flat[:n] != [i for step in range(3) for i in diffusion.batch_indices(n, batch, step, seed=2)][:n]


def test_to_frame_images_matches_pil_grey_and_resizes():
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = rng.random((2, 16, 16, 3), dtype=np.float32)
    grey = diffusion.to_frame_images(rgb, channels=1)
    as_uint8 = np.clip(np.rint(rgb[0].astype(np.float64) * 255), 0, 255).astype(np.uint8)
    pil = np.asarray(Image.fromarray(as_uint8).convert("L"))
    assert grey[0].shape == (16, 16, 3) and grey[0].dtype == np.uint8
    assert np.abs(grey[0][..., 0].astype(int) - pil.astype(int)).max() <= 1
    assert np.array_equal(diffusion.to_frame_images(rgb, channels=3)[1], np.clip(
        np.rint(rgb[1].astype(np.float64) * 255), 0, 255).astype(np.uint8))
    one = diffusion.to_frame_images(rgb[:, :, :, :1], channels=3, size=24)[0]
    assert one.shape == (24, 24, 3) and np.array_equal(one[..., 0], one[..., 2])
    with pytest.raises(ValueError):
        diffusion.to_frame_images(rgb, channels=2)


def test_generate_frames_aligned_groups_and_exactness():
    calls = []

    def sample(generators):
        import torch

        calls.append(len(generators))
        return np.stack([torch.rand((4, 4, 1), generator=g).numpy() for g in generators])

    req = GenerationRequest(label="crack", n=4, seed=3, size=4, start_index=5)
    frames = diffusion.generate_frames(sample, req, name="x", batch=3)
    assert calls == [3, 3]  # groups [3,6) and [6,9) cover indices 5..8
    assert [f.meta["name"] for f in frames] == [f"x-crack-3-{i:06d}" for i in range(5, 9)]
    whole = diffusion.generate_frames(sample, GenerationRequest(label="crack", n=9, seed=3, size=4), name="x", batch=3)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames, whole[5:], strict=True))
    assert all(f.boxes is None and f.source == "synthetic:x" for f in frames)
    sane = diffusion.generate_frames(sample, GenerationRequest(label="sane", n=1, size=4), name="x", batch=1)
    assert sane[0].boxes == ()
    with pytest.raises(UserError):
        diffusion.generate_frames(sample, req, name="x", batch=0)


def test_checkpoints_atomic_keep_and_resume(tmp_path):
    import torch

    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    ckpt = diffusion.Checkpoints(tmp_path / "ck", keep=2)
    for step in (1, 2, 3):
        ckpt.save(step, {"m": model}, opt, {"note": step})
    assert [p.name for p in ckpt.list()] == ["step-0000002", "step-0000003"]
    (tmp_path / "ck" / "step-0000009").mkdir()  # half-written (no state.json): never picked
    fresh = torch.nn.Linear(3, 2)
    fresh_opt = torch.optim.AdamW(fresh.parameters())
    state = ckpt.load(ckpt.latest(), {"m": fresh}, fresh_opt)
    assert state == {"note": 3, "step": 3}
    assert torch.equal(fresh.weight, model.weight)
    assert fresh_opt.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]


def test_pipeline_dir_errors(tmp_path):
    with pytest.raises(UserError) as err:
        diffusion.require_pipeline_dir(None, field="positive")
    assert err.value.field == "positive"
    with pytest.raises(UserError, match="model_index.json"):
        diffusion.require_pipeline_dir(tmp_path, field="positive")
    with pytest.raises(UserError, match="no images"):
        diffusion.list_images(tmp_path, field="--data")


class _NoiseGenerator(diffusion.PipelineGenerator):
    """A PipelineGenerator whose "pipeline" is a folder name and whose images are seeded noise."""

    name = "noise"
    version = "1"

    def __init__(self, folders, **kwargs):
        super().__init__(folders, **{"channels": 1, "batch": 2, "device": None, "dtype": "auto", **kwargs})
        self.loads = []

    def _load(self, folder, device):
        self.loads.append((folder.name, device))
        return folder.name

    def _sampler(self, pipe, req):
        import torch

        return lambda generators: np.stack([torch.rand((8, 8, 1), generator=g).numpy() for g in generators])


def test_pipeline_generator_loads_each_folder_once_on_the_cells_device(tmp_path, bench_ctx):
    bench_ctx = dataclasses.replace(bench_ctx, device="cpu")
    shared = tmp_path / "both"
    gen = _NoiseGenerator({"crack": shared, "sane": shared})
    assert gen.generate(GenerationRequest(label="crack", n=0, size=8), bench_ctx) == []
    assert gen.loads == []  # an empty request loads nothing
    frames = gen.generate(GenerationRequest(label="crack", n=3, size=8), bench_ctx)
    gen.generate(GenerationRequest(label="sane", n=1, size=8), bench_ctx)
    assert gen.loads == [("both", "cpu")]
    assert len(frames) == 3 and frames[0].source == "synthetic:noise" and frames[0].image.shape == (8, 8, 3)
    with pytest.raises(UserError, match="unknown label"):
        gen.generate(GenerationRequest(label="dent", n=1, size=8), bench_ctx)
    with pytest.raises(UserError) as err:
        _NoiseGenerator({"crack": shared}, channels=2)
    assert err.value.field == "channels"


def test_generation_speed_times_the_second_request(tmp_path, bench_ctx):
    bench_ctx = dataclasses.replace(bench_ctx, device="cpu")
    gen = _NoiseGenerator({"crack": tmp_path / "c", "sane": tmp_path / "s"})
    speed = diffusion.generation_speed(gen, bench_ctx, n=4, size=8)
    assert set(speed) == {"frames_per_s", "cpu_s_per_frame"} and speed["frames_per_s"] > 0
    assert gen.loads == [("c", "cpu")]  # loaded by the warm-up


def test_generator_commands_share_the_groups():
    import click

    def command(name):
        return click.Command(name, callback=lambda: None)

    root = click.Group("bench")
    diffusion.add_generator_commands(root, train=command("a"), init_tiny=command("a"))
    diffusion.add_generator_commands(root, train=command("b"), init_tiny=command("b"))
    assert set(root.commands["train"].commands) == {"a", "b"}
    init_tiny = root.commands["generators"].commands["init-tiny"]
    assert set(init_tiny.commands) == {"a", "b"} and init_tiny.help == diffusion.GROUP_HELP["init-tiny"]


def test_init_tiny_command_checks_size_and_imports_the_builder_on_use(monkeypatch, tmp_path):
    import types

    from click.testing import CliRunner

    calls = []
    monkeypatch.setitem(sys.modules, "fake_tiny", types.SimpleNamespace(
        build=lambda out, **kw: calls.append(kw) or out))
    command = diffusion.init_tiny_command("fake", "fake_tiny:build", size=16, multiple=8, channels=1, help="Fake.")
    result = CliRunner().invoke(command, [str(tmp_path / "w"), "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert calls == [{"size": 16, "channels": 1, "seed": 2}] and f"wrote {tmp_path / 'w'}" in result.output
    result = CliRunner().invoke(command, [str(tmp_path / "w"), "--size", "12"])
    assert isinstance(result.exception, UserError) and result.exception.field == "--size"
    assert len(calls) == 1


def test_training_summary_shows_steps_time_and_probe_loss():
    line = diffusion.training_summary("out/crack", {"steps": 40, "seconds": 12.4, "probe": [(0, 0.91234), (40, 0.5)]})
    assert line == "saved out/crack (40 steps, 12 s; probe loss 0.9123 -> 0.5000)"


def test_class_folders_take_weights_or_one_folder_per_class(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model_index.json").write_text("{}")
    per_class = {"crack": ("positive", None), "sane": ("negative", None)}

    def folders(weights, **given):
        pairs = {label: (field, given.get(field)) for label, (field, _) in per_class.items()}
        return diffusion.class_folders(weights, pairs, split=lambda w: {"crack": Path(w), "sane": Path(w)},
                                       weights_hold="one folder", fix="set weights:")

    assert folders(tmp_path / "a") == {"crack": tmp_path / "a", "sane": tmp_path / "a"}
    assert folders(None, positive=tmp_path / "a", negative=tmp_path / "b") == {"crack": tmp_path / "a",
                                                                                 "sane": tmp_path / "b"}
    with pytest.raises(UserError, match=r"give either weights: \(one folder\) or positive:/negative:, not both"):
        folders(tmp_path / "a", negative=tmp_path / "b")
    with pytest.raises(UserError, match="no weights given") as err:
        folders(None)
    assert err.value.field == "weights" and err.value.fix == "set weights:"
    with pytest.raises(UserError) as err:
        folders(None, positive=tmp_path / "a")  # the other class's folder is missing
    assert err.value.field == "negative"


def test_training_run_options_check_and_reach_the_command():
    import click
    from click.testing import CliRunner

    @dataclasses.dataclass(kw_only=True)
    class Config(diffusion.TrainingRun):
        data: str
        checkpoint_every: int = 7

    seen = []

    @click.command()
    @diffusion.training_options(checkpoint_every=7)
    def train(**options):
        seen.append(Config(data="d", **options))

    assert CliRunner().invoke(train, ["--seed", "3", "--resume"]).exit_code == 0
    assert seen == [Config(data="d", seed=3, resume=True)]
    assert "[default: 7]" in CliRunner().invoke(train, ["--help"]).output
    with pytest.raises(UserError) as err:
        Config(data="d", mixed_precision="fp8").validate()
    assert err.value.field == "--mixed-precision"
    with pytest.raises(UserError) as err:
        Config(data="d", checkpoint_every=0).validate()
    assert err.value.field == "--checkpoint-every"


def test_optimizer_step_clips_steps_and_refuses_a_non_finite_loss():
    import types

    calls = []
    record = types.SimpleNamespace(clip_grad_norm_=lambda params, norm: calls.append(("clip", norm)),
                                   step=lambda: calls.append("step"),
                                   zero_grad=lambda set_to_none: calls.append("zero"))
    losses = [0.5]
    step = dict(losses=losses, max_grad_norm=1.0, what="crack: ")
    assert diffusion.optimizer_step(record, [], record, record, loss=0.25, step=1, **step) == 2
    assert calls == [("clip", 1.0), "step", "step", "zero"] and losses == [0.5, 0.25]
    with pytest.raises(UserError, match="crack: loss became nan at step 3") as err:
        diffusion.optimizer_step(record, [], record, record, loss=float("nan"), step=2, **step)
    assert err.value.field == "--lr" and len(calls) == 4 and losses == [0.5, 0.25]
    diffusion.optimizer_step(record, [], record, record, loss=0.1, step=2, losses=losses, max_grad_norm=0)
    assert ("clip", 0) not in calls and calls[4:] == ["step", "step", "zero"]
