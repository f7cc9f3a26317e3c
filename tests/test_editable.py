"""An editable plugin whose code changed since reused cells were computed makes `bench run` warn."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import benchbench_toys
import pytest
from click.testing import CliRunner

from benchbench.cli import main
from benchbench.editable import editable_code, is_editable, package_hash, stale_warnings
from benchbench.plugins import Plugins

DIST = "benchbench-faketoys"


@pytest.fixture(autouse=True)
def _forget_faketoys(monkeypatch):
    # each test makes its own faketoys in its own tmp_path: an import from an earlier test must not be reused
    monkeypatch.delitem(sys.modules, "faketoys", raising=False)
    yield
    sys.modules.pop("faketoys", None)
    importlib.invalidate_caches()


def fake_distribution(site: Path, *, editable: bool) -> Path:
    """A distribution as pip leaves it: dist-info (METADATA, entry point, direct_url.json) + the package,
    which re-exports the toy plugins' hooks. Returns the package folder."""
    pkg = site / "faketoys"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from benchbench_toys import *  # noqa: F403\n"
                                     "from benchbench_toys import __version__  # noqa: F401\n")
    info = site / "benchbench_faketoys-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[benchbench]\nfaketoys = faketoys\n")
    url = {"url": pkg.parent.as_uri(), "dir_info": {"editable": True} if editable else {}}
    (info / "direct_url.json").write_text(json.dumps(url))
    return pkg


@pytest.fixture
def editable_toys(tmp_path, monkeypatch):
    pkg = fake_distribution(tmp_path / "site", editable=True)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("BENCHBENCH_PLUGINS", DIST)
    monkeypatch.delenv("BENCHBENCH_PLUGIN_MODULES", raising=False)
    return pkg


def test_only_editable_distributions_get_a_code_hash(tmp_path, monkeypatch):
    fake_distribution(tmp_path / "a", editable=False)
    monkeypatch.syspath_prepend(str(tmp_path / "a"))
    monkeypatch.setenv("BENCHBENCH_PLUGINS", DIST)
    assert not is_editable(DIST) and editable_code(Plugins().load().info.values()) == {}
    assert not is_editable("no-such-distribution")


def test_the_hash_follows_the_package_files(editable_toys):
    plugins = Plugins().load()
    assert is_editable(DIST) and plugins.info["faketoys"].module == "faketoys"
    before = editable_code(plugins.info.values())
    assert before == {"faketoys": package_hash("faketoys")}
    (editable_toys / "__init__.py").write_text((editable_toys / "__init__.py").read_text() + "# edited\n")
    assert package_hash("faketoys") != before["faketoys"]
    (editable_toys / "__pycache__").mkdir(exist_ok=True)
    (editable_toys / "__pycache__" / "x.pyc").write_bytes(b"junk")  # byte code is not code that changed
    assert editable_code(plugins.info.values()) == {"faketoys": package_hash("faketoys")}


def test_stale_warnings_name_the_plugin_and_cells():
    cells = [{"id": f"c{i}", "plugin_code": {"p": "old"}} for i in range(5)] + [{"id": "n"}]
    [warning] = stale_warnings(cells, {"p": "new"}, {"p": "benchbench-p"})
    assert "plugin p (benchbench-p) is an editable install whose code changed since 5 reused cell(s)" in warning
    assert "c0, c1, c2, ..." in warning and "--fresh" in warning and "version" in warning
    assert stale_warnings(cells, {"p": "old"}, {}) == [] and stale_warnings(cells, {}, {}) == []


def run(tmp_path, matrix, *extra):
    return CliRunner().invoke(main, ["run", str(matrix), "--results-dir", str(tmp_path / "results"),
                                     "--cache-dir", str(tmp_path / "cache"), "--no-report", *extra])


def test_bench_run_warns_until_the_cells_are_recomputed(tmp_path, editable_toys):
    m = benchbench_toys.write_matrix(tmp_path, name="ed", seeds=[0], ratios=[0], bootstrap=20)
    first = run(tmp_path, m)
    assert first.exit_code == 0 and "editable install" not in first.output, first.output
    cells = [json.loads(p.read_text()) for p in (tmp_path / "results" / "ed" / "cells").glob("*.json")]
    assert cells and all(c["plugin_code"] == {"faketoys": package_hash("faketoys")} for c in cells)

    assert "editable install" not in run(tmp_path, m).output  # same code: silent reuse
    (editable_toys / "__init__.py").write_text((editable_toys / "__init__.py").read_text() + "# edited\n")
    stale = run(tmp_path, m)
    assert stale.exit_code == 0 and "plugin faketoys (benchbench-faketoys) is an editable install whose code " \
        "changed" in " ".join(stale.output.split()), stale.output
    fresh = run(tmp_path, m, "--fresh")
    assert fresh.exit_code == 0 and "editable install" not in fresh.output
