"""`bench plugins new`: the skeleton it writes installs, registers and passes its own tests."""

from __future__ import annotations

import json
import os
import re
import site
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchbench.cli import main
from benchbench.scaffold import TEMPLATES, Names, requirement, torch_requirement

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDERS = re.compile(r"bbpackage|bbname|BbClass|bb-dist|BB_REQUIREMENT")


def new(*args: str):
    return CliRunner().invoke(main, ["plugins", "new", *args])


def test_names_follow_from_the_short_name():
    assert Names.of("my-det") == Names(name="my-det", dist="benchbench-my-det", package="benchbench_my_det",
                                       cls="MyDet")
    assert Names.of("rcnn2").package == "benchbench_rcnn2"


@pytest.mark.parametrize(("name", "message"), [
    ("My Det", "must be lower-case letters and digits"),
    ("2det", "starting with a letter"),
    ("det-", "must be lower-case"),
    ("benchbench-mydet", "fix: give the short name, e.g. 'mydet'"),
])
def test_a_bad_name_is_a_user_error_with_the_fix(name, message, tmp_path):
    res = new("detector", name, "--dir", str(tmp_path))
    assert res.exit_code == 2 and message in res.output and "fix:" in res.output, res.output
    assert not any(tmp_path.iterdir())


def test_an_existing_folder_is_not_overwritten(tmp_path):
    (tmp_path / "benchbench-mydet").mkdir()
    (tmp_path / "benchbench-mydet" / "keep.txt").write_text("mine")
    res = new("detector", "mydet", "--dir", str(tmp_path))
    assert res.exit_code == 2 and "already exists" in res.output
    assert (tmp_path / "benchbench-mydet" / "keep.txt").read_text() == "mine"


def test_the_skeleton_has_every_name_filled_in(tmp_path):
    res = new("detector", "my-det", "--dir", str(tmp_path))
    assert res.exit_code == 0, res.output
    out = tmp_path / "benchbench-my-det"
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == [".gitignore", "README.md", "benchbench_my_det/__init__.py", "benchbench_my_det/detector.py",
                     "pyproject.toml", "tests/test_benchbench_my_det.py"]
    for f in out.rglob("*"):
        if f.is_file():
            assert not PLACEHOLDERS.search(f.read_text()), f
    pyproject = (out / "pyproject.toml").read_text()
    assert 'name = "benchbench-my-det"' in pyproject and 'my-det = "benchbench_my_det"' in pyproject
    assert f'"{requirement()}"' in pyproject and requirement().startswith("benchbench-ndt>=")
    deps = tomllib.loads(pyproject)["project"]["dependencies"]
    assert "scipy>=1.11" in deps and not any(d.startswith(("torch", "safetensors")) for d in deps)
    assert "class MyDetDetector" in (out / "benchbench_my_det" / "detector.py").read_text()
    assert "pip install -e ." in res.output
    assert "*.egg-info/" in (out / ".gitignore").read_text().splitlines()  # pip install -e writes one here


def test_the_torch_flavour_replaces_the_detector_tests_readme_and_dependencies(tmp_path):
    res = new("detector", "tdet", "--torch", "--dir", str(tmp_path))
    assert res.exit_code == 0 and "(class TdetDetector, torch)" in res.output, res.output
    out = tmp_path / "benchbench-tdet"
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == [".gitignore", "README.md", "benchbench_tdet/__init__.py", "benchbench_tdet/detector.py",
                     "pyproject.toml", "tests/test_benchbench_tdet.py"]
    assert not any(PLACEHOLDERS.search(f.read_text()) for f in out.rglob("*") if f.is_file())
    detector = (out / "benchbench_tdet" / "detector.py").read_text()
    for shown in ("trains_by_steps = True", "ctx.epochs_for(", "ctx.record_budget(", "torch_device(",
                  "save_state(", "load_state(", "def targets("):
        assert shown in detector, shown
    deps = tomllib.loads((out / "pyproject.toml").read_text())["project"]["dependencies"]
    assert torch_requirement() in deps and "safetensors>=0.4" in deps and torch_requirement().startswith("torch")


@pytest.mark.parametrize("flavour", [[], ["--torch"]])
def test_generated_pyproject_builds_without_deprecation_warnings(flavour, tmp_path):
    # A license table (`license = {text = ...}`) made setuptools warn on every install.
    assert new("detector", "mydet", "--dir", str(tmp_path), *flavour).exit_code == 0
    plugin = tmp_path / "benchbench-mydet"
    assert tomllib.loads((plugin / "pyproject.toml").read_text())["project"]["license"] == "MIT"
    code = ("import sys, warnings; from setuptools import build_meta\n"
            "with warnings.catch_warnings(record=True) as seen:\n"
            "    warnings.simplefilter('always')\n"
            "    build_meta.prepare_metadata_for_build_wheel(sys.argv[1])\n"
            "print('WARNED', [f'{w.category.__name__}: {str(w.message)[:80]}' for w in seen\n"
            "                 if issubclass(w.category, DeprecationWarning)])")
    (tmp_path / "meta").mkdir()
    built = subprocess.run([sys.executable, "-c", code, str(tmp_path / "meta")], cwd=plugin, capture_output=True,
                           text=True, timeout=120)
    assert built.returncode == 0, built.stderr[-2000:]
    assert built.stdout.strip().splitlines()[-1] == "WARNED []", built.stdout[-2000:]


def test_templates_hold_no_build_leftovers():
    leftovers = [p for p in TEMPLATES.rglob("*") if p.suffix == ".pyc" or p.name.endswith(".egg-info")
                 or p.name == "__pycache__"]
    # pytest or an import may leave __pycache__ in the source tree; the scaffold skips them, the wheel too
    assert all(p.name == "__pycache__" or p.parent.name == "__pycache__" for p in leftovers)


def _throwaway_venv(where: Path) -> Path:
    """A venv whose interpreter also sees this interpreter's packages (benchbench, numpy, pip, setuptools)
    without copying them: a .pth line that adds each site-packages folder, processing its .pth files
    (editable installs) too."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    python = where / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    dirs = [d for d in site.getsitepackages() if Path(d).is_dir()]
    Path(purelib, "parent-venv.pth").write_text(f"import site; list(map(site.addsitedir, {dirs!r}))\n")
    return python


@pytest.mark.parametrize("flavour", [[], pytest.param(["--torch"], marks=pytest.mark.slow)])
def test_generated_plugin_installs_and_passes_its_tests(flavour, tmp_path):
    assert new("detector", "mydet", "--dir", str(tmp_path), *flavour).exit_code == 0
    plugin = tmp_path / "benchbench-mydet"
    python = _throwaway_venv(tmp_path / "venv")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                              "-e", str(plugin)], capture_output=True, text=True, env=env, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr
    # The pytest plugin is named with -p: this checkout's entry point may not be installed yet (make install).
    tests = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "benchbench.pytest_plugin", "-p",
                            "no:cacheprovider"], cwd=plugin, capture_output=True, text=True, env=env, timeout=600)
    assert tests.returncode == 0 and " passed" in tests.stdout and "skipped" not in tests.stdout, \
        tests.stdout[-3000:] + tests.stderr[-2000:]
    listed = subprocess.run([str(python), "-m", "benchbench.cli", "plugins", "--json"], capture_output=True,
                            text=True, env={**env, "BENCHBENCH_PLUGINS": "benchbench-mydet"}, timeout=120)
    assert [(p["distribution"], p["registers"], p["errors"]) for p in json.loads(listed.stdout)] == \
        [("benchbench-mydet", {"detectors": ["mydet"]}, [])], listed.stderr
