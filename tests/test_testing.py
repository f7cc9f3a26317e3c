"""benchbench.testing: check_detector accepts a conforming detector and names each violation; the
helpers for plugins' own tests do what they say."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import benchbench_toys_detectors as toys
import pytest

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


@pytest.fixture(scope="module")
def data():
    return tiny_frames(n=12, size=48, seed=0), tiny_frames(n=4, size=48, seed=1)


def test_conforming_detector_passes(data, tmp_path):
    report = check_detector(toys.Oracle, train=data[0], test=data[1], tmp_path=tmp_path)
    assert report["name"] == "oracle" and report["boxes"] == [len(f.boxes) for f in data[1]]
    assert report["meaning"] == {"cracked": 2, "hits": 2}


def test_default_data_and_temporary_folder():
    report = check_detector(toys.Oracle)
    assert report["frames"] == 8 and report["meaning"] == {"cracked": 3, "hits": 3}
    # the default training set has cracked frames with unknown boxes, which Oracle skips
    assert report["params"]["score"] == round(10 / 24, 6)


@pytest.mark.parametrize(("cls", "message"), [
    (toys.TooFewLists, "3 box lists for 4 frames"),
    (toys.BadScore, "score 1.5 is outside"),
    (toys.Outside, "outside the 48x48 image"),
    (toys.NotFinite, "x=nan is not a finite number"),
    (toys.Unseeded, "determinism"),
    (toys.Forgetful, "save/load: a fresh, unfitted instance .* raised FileNotFoundError"),
    (toys.CrashesOnBlack, "all-black frame raised ZeroDivisionError"),
    (toys.NoParams, r"method params\(\) is missing"),
    # boxes that do not mean what Box means: the message names the probable cause
    (toys.XYXY, r"\(x1, y1, x2, y2\)"),
    (toys.Normalised, "normalised 0-1 coordinates"),
    (toys.Centred, r"\(cx, cy, w, h\) centres"),
    (toys.Swapped, "x and y look swapped"),
    (toys.Reversed, "reverse frame order"),
    (toys.Rotated, "not in input frame order"),
    (toys.Empty, "no box on any of the 4 test frames"),
    (toys.Corner, "only 0 of 2 cracked test frames .* the short fit did not learn"),
    (toys.InMemory, "save/load in a fresh process: .*KeyError.*state kept in a module or class attribute"),
])
def test_violations_are_named(cls, message, data, tmp_path):
    with pytest.raises(AssertionError, match=message):
        check_detector(cls, train=data[0], test=data[1], tmp_path=tmp_path)


def test_training_frames_with_unknown_boxes_are_exercised(tmp_path):
    # default data: 24 training frames + 2 cracked ones with boxes=None
    with pytest.raises(AssertionError, match=r"fit on 26 frames .*unknown boxes, boxes None: skip those\) "
                                             r"raised TypeError"):
        check_detector(toys.NeedsBoxes, tmp_path=tmp_path)


def test_meaning_false_skips_only_the_meaning_check(tmp_path):
    assert check_detector(toys.Corner, tmp_path=tmp_path, meaning=False)["meaning"] is None
    with pytest.raises(AssertionError, match="fresh process"):
        check_detector(toys.InMemory, tmp_path=tmp_path / "b", meaning=False)
    assert check_detector(toys.InMemory, tmp_path=tmp_path / "c", fresh_process=False)["name"] == "oracle"


def test_a_lambda_factory_is_rebuilt_from_a_pickled_instance(tmp_path):
    assert check_detector(lambda: toys.Oracle(), tmp_path=tmp_path)["name"] == "oracle"


def test_the_classic_detector_conforms(tmp_path):
    from benchbench.builtins.classic import ClassicDetector

    report = check_detector(ClassicDetector, tmp_path=tmp_path)
    assert report["meaning"]["hits"] >= 2


def test_zero_area_boxes_pass_with_a_warning(data, tmp_path):
    flat = r"predict after fit: 4 zero-area box\(es\) \(frame 0 box \d.*a run drops them"
    with pytest.warns(UserWarning, match=flat):
        check_detector(toys.Flat, train=data[0], test=data[1], tmp_path=tmp_path)


def test_fresh_process_runs_on_this_process_torch_threads(data, tmp_path):
    # A thread count no fresh interpreter starts with: without it passed on, the scores differ.
    from benchbench.testing import torch_threads

    pytest.importorskip("torch")
    with torch_threads(7):
        report = check_detector(toys.ThreadCount, train=data[0], test=data[1], tmp_path=tmp_path)
    assert report["max_score"] == pytest.approx(1 / 7)


def test_factory_must_build_fresh_instances(data, tmp_path):
    one = toys.Oracle()
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
