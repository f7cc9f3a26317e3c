"""Plugin manager, registries, docs coverage, and the no-torch start-up promise."""

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import benchbench_toys
import pytest
from click.testing import CliRunner

from benchbench import hookspecs
from benchbench.cli import main
from benchbench.hookspecs import hookimpl
from benchbench.plugins import get_plugins

ROOT = Path(__file__).resolve().parents[1]
HOOKS = sorted(n for n, f in vars(hookspecs).items() if n.startswith("benchbench_") and callable(f))


def test_every_hook_is_documented_with_its_signature():
    doc = (ROOT / "docs" / "plugins.md").read_text()
    for name in HOOKS:
        args = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert f"### `{name}({args})`" in doc, f"docs/plugins.md lacks a section for {name}({args})"


def test_every_hook_has_a_test():
    text = "".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    for name in HOOKS:
        short = name.removeprefix("benchbench_")
        assert f"def test_hook_{short}" in text, f"no test_hook_{short}"


def _sub(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=ROOT).stdout


def test_help_and_plugins_do_not_import_torch():
    code = ("import sys\nfrom click.testing import CliRunner\nfrom benchbench.cli import main\n"
            "for args in (['--help'], ['plugins', '--all'], ['run', '--help']):\n"
            "    r = CliRunner().invoke(main, args); assert r.exit_code == 0, r.output\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch','ultralytics','transformers',"
            "'diffusers')))")
    assert _sub(code).strip() == "[]"


def test_builtins_register_lazily():
    pl = get_plugins().collect()
    assert {"simulated", "flyd"} <= set(pl.registries["datasets"].entries)
    assert "classic" in pl.registries["detectors"]
    assert pl.registries["generators"].entries["physics"].meta == {"uses_guidance": False, "gives_boxes": True}
    assert isinstance(pl.registries["detectors"].entries["classic"].target, str)


class _Det:
    name, version = "x", "1"


def test_hook_register_detectors():
    class P:
        @hookimpl
        def benchbench_register_detectors(self, register):
            register("mydet", _Det, note="hi")

    pl = get_plugins()
    pl.register(P(), "p")
    e = pl.registry("detectors").get("mydet")
    assert e.plugin == "p" and e.meta == {"note": "hi"} and isinstance(e.create(), _Det)


def test_hook_register_generators():
    class P:
        @hookimpl
        def benchbench_register_generators(self, register):
            register("g1", "benchbench_toys:ToyGenerator", uses_guidance=False)

    pl = get_plugins()
    pl.register(P(), "p")
    e = pl.registry("generators").get("g1")
    assert e.meta["uses_guidance"] is False and e.create(size=8).size == 8


def test_hook_register_datasets():
    class P:
        @hookimpl
        def benchbench_register_datasets(self, register):
            register("d1", "benchbench_toys:ToyDataset")

    pl = get_plugins()
    pl.register(P(), "p")
    assert len(pl.registry("datasets").get("d1").create(n=10).load()) == 10


def test_hook_register_executors():
    class P:
        @hookimpl
        def benchbench_register_executors(self, register):
            register("e1", "benchbench.executors.local:LocalExecutor")

    pl = get_plugins()
    pl.register(P(), "p")
    ex = pl.registry("executors").get("e1").create(workers=1)
    seen = []
    ex.map(benchbench_toys.reporting_job, [1, 2], lambda i, r: seen.append((i, r)))  # run in a worker process
    ex.close()
    assert seen == [(0, 1), (1, 2)]


def test_hook_cell_finished_isolates_failures():
    calls = []

    class Good:
        @hookimpl
        def benchbench_cell_finished(self, cell, result):
            calls.append((cell, result["status"]))

    class Bad:
        @hookimpl
        def benchbench_cell_finished(self, result):
            raise RuntimeError("observer broke")

    pl = get_plugins()
    pl.register(Good(), "good")
    pl.register(Bad(), "bad")
    # as benchbench.pipeline.observing calls the observers: each on its own
    failed = pl.call_each("benchbench_cell_finished", lambda _plugin: {"cell": "c1", "result": {"status": "ok"}})
    assert calls == [("c1", "ok")]
    assert [(plugin, str(exc)) for plugin, exc in failed] == [("bad", "observer broke")]


def test_hook_register_commands():
    import click

    class P:
        @hookimpl
        def benchbench_register_commands(self, cli):
            @cli.command(name="hello-test")
            def hello():
                click.echo("hello from plugin")

    from benchbench.cli import BenchGroup

    pl = get_plugins()
    pl.register(P(), "p")
    BenchGroup._plugin_commands_added = False
    try:
        res = CliRunner().invoke(main, ["hello-test"])
        assert res.exit_code == 0 and "hello from plugin" in res.output
    finally:
        BenchGroup._plugin_commands_added = False
        main.commands.pop("hello-test", None)


def test_failing_command_hook_warns_and_is_listed():
    class Broken:
        @hookimpl
        def benchbench_register_commands(self, cli):
            raise RuntimeError("no commands today")

    from benchbench.cli import BenchGroup

    pl = get_plugins()
    pl.register(Broken(), "broken")
    BenchGroup._plugin_commands_added = False
    try:
        res = CliRunner().invoke(main, ["no-such-command"])  # an unknown name: plugin commands are looked up
    finally:
        BenchGroup._plugin_commands_added = False
    assert res.exit_code == 2
    assert "warning: plugin broken failed to add commands: no commands today" in res.output
    assert pl.info["broken"].errors == ["benchbench_register_commands failed: no commands today"]


def test_trace_shows_every_hook_call():
    env = {k: v for k, v in __import__("os").environ.items() if k != "BENCHBENCH_PLUGINS"}
    env["BENCHBENCH_TRACE_PLUGINS"] = "1"
    for args, hooks in ((["plugins"], ("benchbench_register_detectors", "benchbench_register_generators")),
                        (["train", "--help"], ("benchbench_register_commands",))):
        out = subprocess.run([sys.executable, "-m", "benchbench.cli", *args], capture_output=True, text=True,
                             env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        for hook in hooks:
            assert hook in out.stderr, (args, hook)


def test_duplicate_name_different_target_is_an_error():
    class A:
        @hookimpl
        def benchbench_register_detectors(self, register):
            register("classic", _Det)

    pl = get_plugins()
    pl.register(A(), "a")
    pl.collect()
    assert any("registered twice" in e for e in pl.info["a"].errors)


def test_misspelt_hook_is_a_load_error():
    class Typo:
        def benchbench_register_detector(self, register):  # missing 's'
            pass

    pl = get_plugins()
    pl.register(Typo(), "typo")
    assert any("benchbench_register_detector" in e for e in pl.info["typo"].errors)


def test_misspelt_decorated_hook_names_the_closest_one():
    # pluggy itself accepts a @hookimpl without a spec: the plugin would silently register nothing.
    class Typo:
        @hookimpl
        def benchbench_register_detector(self, register):  # missing 's'
            register("never", "nowhere:Nothing")

    pl = get_plugins()
    pl.register(Typo(), "typo2")
    errors = pl.info["typo2"].errors
    assert errors == ["invalid plugin: PluginValidationError: unknown hook 'benchbench_register_detector' "
                      "(did you mean 'benchbench_register_detectors'?)"], errors
    assert pl.pm.get_plugin("typo2") is None and "never" not in pl.registry("detectors")


def test_unknown_plugin_suggests():
    from benchbench.api import UserError

    with pytest.raises(UserError, match="did you mean 'classic'"):
        get_plugins().registry("detectors").get("clasic")


def test_broken_entry_point_reported_not_crashing(tmp_path, monkeypatch):
    pkg = tmp_path / "brokenplug"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise ImportError('needs torch 99')\n")
    monkeypatch.setenv("BENCHBENCH_PLUGIN_MODULES", "brokenplug")
    monkeypatch.syspath_prepend(str(tmp_path))
    res = CliRunner().invoke(main, ["plugins", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)}
    assert "needs torch 99" in rows["brokenplug"]["errors"][0]


def test_plugins_command_lists_registrations(monkeypatch):
    monkeypatch.setenv("BENCHBENCH_PLUGIN_MODULES", "benchbench_toys")
    res = CliRunner().invoke(main, ["plugins", "--json"])
    rows = {r["name"]: r for r in json.loads(res.output)}
    toy = rows["benchbench_toys"]
    assert toy["version"] == "1.0"
    assert toy["registers"]["detectors"] == ["toydet"]
    assert "benchbench_register_generators" in toy["hooks"] and toy["errors"] == []
    res = CliRunner().invoke(main, ["plugins", "--all"])
    assert res.exit_code == 0 and "classic" in res.output
    res = CliRunner().invoke(main, ["plugins", "--requirements"])
    assert re.search(r"^benchbench_toys==1\.0$", res.output, re.M)


def test_plugins_all_lists_executor_options_without_starting_an_executor(tmp_path, monkeypatch):
    # Building submitit's executor to read its defaults made results/.submitit in the current folder.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BENCHBENCH_PLUGIN_MODULES", "benchbench_toys")  # toyserial: a dataclass options model
    res = CliRunner().invoke(main, ["plugins", "--all", "--json"])
    assert res.exit_code == 0, res.output
    parts = {(p["kind"], p["name"]): p for p in json.loads(res.output)["parts"]}
    assert "time=120" in parts["executor", "submitit"]["parameters"]
    assert "workers=1" in parts["executor", "local"]["parameters"]
    assert parts["executor", "toyserial"]["parameters"] == ["pause=0.0"]
    assert list(tmp_path.iterdir()) == []


def test_allowlist_filters_entry_points(monkeypatch):
    from importlib import metadata

    from benchbench import plugins as mod

    ep = metadata.EntryPoint(name="toys", value="benchbench_toys", group="benchbench")
    monkeypatch.setattr(mod, "_entry_points", lambda: [ep])
    monkeypatch.setenv("BENCHBENCH_PLUGINS", "")
    assert "toys" not in mod.Plugins().load().info
    monkeypatch.setenv("BENCHBENCH_PLUGINS", "toys")
    assert "toys" in mod.Plugins().load().info
    monkeypatch.delenv("BENCHBENCH_PLUGINS")
    assert "toys" in mod.Plugins().load().info
