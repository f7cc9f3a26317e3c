"""benchbench.pytest_plugin: the fixtures a plugin author's tests get, used from a test file run in
its own pytest process (as an author's `pytest` would, with the plugin named by -p as the pytest11
entry point names it)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

AUTHOR_TESTS = '''
import socket

import pytest
from benchbench.api import CellContext


def test_frames_are_tiny_simulated_sets(bench_train, bench_test):
    assert (len(bench_train), len(bench_test)) == (24, 8)
    assert {f.width for f in bench_train} == {64}
    assert sum(1 for f in bench_test if f.label == "crack") == 3
    assert all(f.boxes for f in bench_train if f.label == "crack")
    assert {f.stem for f in bench_train}.isdisjoint(f.stem for f in bench_test)


def test_context_is_a_cpu_cell_in_tmp(bench_ctx, tmp_path):
    assert isinstance(bench_ctx, CellContext) and bench_ctx.device == "cpu" and bench_ctx.seed == 0
    assert bench_ctx.work_dir.is_dir() and bench_ctx.work_dir.is_relative_to(tmp_path)


def test_network_is_blocked(no_network):
    with pytest.raises(AssertionError, match="network access attempted.*must work offline"):
        socket.create_connection(("127.0.0.1", 9))


def test_network_is_back_without_the_fixture():
    assert socket.getaddrinfo("localhost", 80)


def test_torch_on_one_thread(one_thread_torch):
    assert one_thread_torch.get_num_threads() == 1
'''


def test_fixtures_in_an_authors_test_file(tmp_path):
    (tmp_path / "test_author.py").write_text(textwrap.dedent(AUTHOR_TESTS))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "benchbench.pytest_plugin", "-p",
                          "no:cacheprovider", str(tmp_path / "test_author.py")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    torch_missing = "1 skipped" in out.stdout
    assert out.returncode == 0 and ("5 passed" in out.stdout or torch_missing), out.stdout + out.stderr


GENERATOR_PLUGIN = '''
import click

CALLS = []


def benchbench_register_commands(cli):
    @cli.group("generators")
    def generators():
        pass

    @generators.group("init-tiny")
    def init_tiny():
        pass

    @init_tiny.command("fake")
    @click.argument("out", type=click.Path())
    @click.option("--size", type=int)
    def fake(out, size):
        import pathlib

        CALLS.append(out)
        pathlib.Path(out).mkdir(parents=True)
        (pathlib.Path(out) / "size").write_text(str(size))
'''

GENERATOR_TESTS = '''
from benchbench.pytest_plugin import generator_fixtures

cli, tiny_fake = generator_fixtures("fakegen", "fake", "--size", "12")


def test_the_plugins_commands_and_its_tiny_weights(cli, tiny_fake):
    assert "fake" in cli.commands["generators"].commands["init-tiny"].commands
    assert tiny_fake.name == "tiny-fake" and (tiny_fake / "size").read_text() == "12"


def test_the_weights_are_made_once_a_session(tiny_fake):
    import fakegen

    assert fakegen.CALLS == [str(tiny_fake)]
'''


def test_generator_fixtures_bind_cli_and_tiny_weights(tmp_path):
    (tmp_path / "fakegen.py").write_text(GENERATOR_PLUGIN)
    (tmp_path / "conftest.py").write_text("")
    (tmp_path / "test_gen.py").write_text(GENERATOR_TESTS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), str(tmp_path),
                                                                      os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "benchbench.pytest_plugin", "-p",
                          "no:cacheprovider", str(tmp_path / "test_gen.py")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0 and "2 passed" in out.stdout, out.stdout + out.stderr


def test_importing_the_plugin_leaves_torch_out():
    from benchbench.testing import heavy_imports

    assert heavy_imports("import benchbench.pytest_plugin", ("torch", "numpy", "benchbench.testing")) == []


def test_the_root_distribution_declares_the_entry_point():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"benchbench.pytest_plugin": "benchbench.pytest_plugin"}


@pytest.mark.parametrize("fixture", ["bench_train", "bench_test", "bench_ctx", "no_network", "one_thread_torch"])
def test_fixtures_are_documented(fixture):
    assert f"`{fixture}`" in (ROOT / "docs" / "plugins-tutorial.md").read_text()
