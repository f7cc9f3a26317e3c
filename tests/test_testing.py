"""benchbench.testing: check_detector accepts a conforming detector and names each violation; the
helpers for plugins' own tests do what they say."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import replace

import pytest

from benchbench.api import Box, CellContext, FrameSet
from benchbench.testing import (
    blank_frame,
    check_detector,
    check_generator,
    forbid_network,
    heavy_imports,
    init_tiny,
    installed_entry,
    make_context,
    plugin_cli,
    registrations,
    tiny_frames,
)


class MeanBox:
    """A conforming toy: predicts the mean training box, with a score from the frame's brightness."""

    name = "meanbox"
    version = "1"

    def __init__(self):
        self.box: list[float] | None = None

    def params(self):
        return {"box": self.box}

    def fit(self, train: FrameSet, val, ctx: CellContext) -> None:
        boxes = [b for f in train for b in f.boxes or ()]
        self.box = [sum(getattr(b, k) for b in boxes) / len(boxes) for k in ("x", "y", "w", "h")]
        (ctx.work_dir / "meanbox.json").write_text(json.dumps(self.box))

    def predict(self, frames: FrameSet, ctx: CellContext) -> list[list[Box]]:
        if self.box is None:
            self.box = json.loads((ctx.work_dir / "meanbox.json").read_text())
        return [[Box(*self.box, score=self._score(f))] for f in frames]

    @staticmethod
    def _score(frame) -> float:
        return float(frame.load().mean() / 255.0)


class TooFewLists(MeanBox):
    def predict(self, frames, ctx):
        return super().predict(frames, ctx)[:-1]


class BadScore(MeanBox):
    @staticmethod
    def _score(frame) -> float:
        return 1.5


class Outside(MeanBox):
    def predict(self, frames, ctx):
        return [[Box(f.width - 2.0, 0.0, 10.0, 10.0, 0.5)] for f in frames]


class NotFinite(MeanBox):
    def predict(self, frames, ctx):
        return [[Box(float("nan"), 0.0, 1.0, 1.0, 0.5)] for f in frames]


class Unseeded(MeanBox):
    def predict(self, frames, ctx):
        return [[Box(*self.box, score=random.random())] for f in frames]


class Forgetful(MeanBox):
    def fit(self, train, val, ctx):
        super().fit(train, val, ctx)
        (ctx.work_dir / "meanbox.json").unlink()  # keeps its model in memory only


class CrashesOnBlack(MeanBox):
    @staticmethod
    def _score(frame) -> float:
        mean = frame.load().mean()
        if mean == 0:
            raise ZeroDivisionError("division by zero")
        return float(mean / 255.0)


class NoParams(MeanBox):
    params = None


@pytest.fixture(scope="module")
def data():
    return tiny_frames(n=12, size=48, seed=0), tiny_frames(n=4, size=48, seed=1)


def test_conforming_detector_passes(data, tmp_path):
    report = check_detector(MeanBox, train=data[0], test=data[1], tmp_path=tmp_path)
    assert report["name"] == "meanbox" and report["boxes"] == [1, 1, 1, 1]


def test_default_data_and_temporary_folder():
    assert check_detector(MeanBox)["frames"] == 8


@pytest.mark.parametrize(("cls", "message"), [
    (TooFewLists, "3 box lists for 4 frames"),
    (BadScore, "score 1.5 is outside"),
    (Outside, "outside the 48x48 image"),
    (NotFinite, "x=nan is not a finite number"),
    (Unseeded, "determinism"),
    (Forgetful, "save/load: a fresh, unfitted instance .* raised FileNotFoundError"),
    (CrashesOnBlack, "all-black frame raised ZeroDivisionError"),
    (NoParams, r"method params\(\) is missing"),
])
def test_violations_are_named(cls, message, data, tmp_path):
    with pytest.raises(AssertionError, match=message):
        check_detector(cls, train=data[0], test=data[1], tmp_path=tmp_path)


def test_factory_must_build_fresh_instances(data, tmp_path):
    one = MeanBox()
    with pytest.raises(AssertionError, match="fresh instance"):
        check_detector(lambda: one, train=data[0], test=data[1], tmp_path=tmp_path)


def test_check_generator_passes_the_physics_generator(tmp_path):
    from benchbench.builtins.physics import PhysicsGenerator

    report = check_generator(PhysicsGenerator, make_context(tmp_path), size=48, gives_boxes=True)
    assert report == {"name": "physics", "fingerprint": PhysicsGenerator().fingerprint(), "frames": 8}


def test_check_generator_names_a_generator_whose_frames_depend_on_n(tmp_path):
    from benchbench.builtins.physics import PhysicsGenerator

    class Restarts(PhysicsGenerator):
        """Numbers frames from 0 whatever start_index: frame i then depends on the request."""

        def generate(self, req, ctx=None):
            return super().generate(replace(req, start_index=0), ctx)

    with pytest.raises(AssertionError, match="start_index=2 must give frames 2 and 3"):
        check_generator(Restarts, make_context(tmp_path), size=48, gives_boxes=True)


def test_blank_frame_is_black():
    frame = blank_frame(32, 16)
    assert frame.load().shape == (16, 32, 3) and frame.load().max() == 0 and frame.boxes == ()


def test_import_leaves_torch_out():
    code = "import sys, benchbench.testing; assert 'torch' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_forbid_network_fails_connections_and_lookups():
    import socket

    with pytest.MonkeyPatch.context() as mp:
        forbid_network(mp)
        with pytest.raises(AssertionError, match="getaddrinfo"):
            socket.getaddrinfo("localhost", 80)
        with pytest.raises(AssertionError, match="network access attempted"), socket.socket() as s:
            s.connect(("127.0.0.1", 9))
    assert socket.getaddrinfo("localhost", 80)  # restored with the monkeypatch


def test_heavy_imports_lists_what_the_code_imported():
    assert heavy_imports("import decimal", ("decimal", "fractions")) == ["decimal"]
    assert heavy_imports("import benchbench.testing") == []
    with pytest.raises(AssertionError, match="ZeroDivisionError"):
        heavy_imports("1 / 0")


def test_registrations_and_plugin_cli_call_the_hooks():
    import click

    class Plugin:
        @staticmethod
        def benchbench_register_detectors(register):
            register("a", "pkg.mod:A", note=1)

        @staticmethod
        def benchbench_register_commands(cli):
            cli.add_command(click.Command("hello", callback=lambda: click.echo("hi")))

    assert registrations(Plugin.benchbench_register_detectors) == [("a", "pkg.mod:A", {"note": 1})]
    assert set(plugin_cli(Plugin).commands) == {"hello"}


def test_installed_entry_is_none_for_a_missing_distribution():
    assert installed_entry("no-such-benchbench-plugin", "x") is None


def test_init_tiny_reports_a_failing_command(tmp_path):
    import click

    @click.group()
    def root():
        pass

    @root.group("generators")
    def generators():
        pass

    @generators.group("init-tiny")
    def init():
        pass

    @init.command("ok")
    @click.argument("out")
    def ok(out):
        pass

    assert init_tiny(root, "ok", tmp_path / "w") == tmp_path / "w"
    with pytest.raises(AssertionError, match="init-tiny nope failed"):
        init_tiny(root, "nope", tmp_path / "w")
