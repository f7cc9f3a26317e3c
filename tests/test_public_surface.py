"""The plugin surface: plugins import only the public modules, the core never imports benchbench.api,
and benchbench.api lists (and cheaply imports) every public name."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What docs/plugins.md documents as public: the surface and the two kits, as whole modules.
PUBLIC = ("benchbench.api", "benchbench.testing", "benchbench.pytest_plugin", "benchbench.diffusion")


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, module) for every absolute import of the ``benchbench`` package in a parsed file.

    ``from benchbench import diffusion`` imports the module ``benchbench.diffusion``; ``from
    benchbench.api import Box`` the module ``benchbench.api``.
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "benchbench":
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "benchbench":
                for alias in node.names:
                    yield node.lineno, f"benchbench.{alias.name}"
            elif node.module.split(".")[0] == "benchbench":
                yield node.lineno, node.module


def non_public_imports(files: list[Path], root: Path = ROOT) -> list[str]:
    return [f"{path.relative_to(root)}:{line}: imports {module}" for path in files
            for line, module in imported_modules(ast.parse(path.read_text(), str(path)))
            if module not in PUBLIC]


TEMPLATES = ROOT / "benchbench" / "plugin_templates"  # plugins to be: they import the public surface


def plugin_sources() -> list[Path]:
    """Every Python file of the plugins shipped in plugins/ (packages, scripts and tests) and of the
    skeleton `bench plugins new` writes."""
    return sorted(p for folder in (ROOT / "plugins", TEMPLATES) for p in folder.rglob("*.py")
                  if not any(part.endswith(".egg-info") or part in ("build", ".venv") for part in p.parts))


def test_plugins_import_only_the_public_surface():
    files = plugin_sources()
    assert len({p.relative_to(ROOT).parts[1] for p in files}) >= 5, "plugins/ not found"
    bad = non_public_imports(files)
    assert not bad, "plugins must import benchbench only through " + ", ".join(PUBLIC) + ":\n" + "\n".join(bad)


def test_the_check_names_file_and_line(tmp_path):
    src = tmp_path / "plugin.py"
    src.write_text("from benchbench.api import Box\nfrom benchbench import diffusion\n\n"
                   "def f():\n    from benchbench.hookspecs import hookimpl\n    import benchbench.torchkit\n")
    assert non_public_imports([src], root=tmp_path) == ["plugin.py:5: imports benchbench.hookspecs",
                                                        "plugin.py:6: imports benchbench.torchkit"]


def test_core_never_imports_the_public_surface():
    """The core imports the modules that hold its types; api.py only re-exports (no import cycle)."""
    core = [p for p in sorted((ROOT / "benchbench").rglob("*.py"))
            if p != ROOT / "benchbench" / "api.py" and TEMPLATES not in p.parents]
    bad = [f"{p.relative_to(ROOT)}:{line}" for p in core
           for line, module in imported_modules(ast.parse(p.read_text())) if module == "benchbench.api"]
    assert not bad, "core modules import benchbench.api: " + ", ".join(bad)


def test_api_all_lists_every_public_name_and_imports_no_torch():
    code = ("import sys, benchbench.api as api\n"
            "names = [n for n in vars(api) if not n.startswith('_')]\n"
            "missing = sorted(set(names) - set(api.__all__)); absent = sorted(set(api.__all__) - set(dir(api)))\n"
            "print(missing, absent, 'torch' in sys.modules, len(api.__all__) == len(set(api.__all__)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["[]", "[]", "False", "True"]


def test_api_reexports_hookimpl_and_the_torch_helpers():
    import benchbench.api as api
    from benchbench import hookspecs, torchkit

    assert api.hookimpl is hookspecs.hookimpl
    for name in ("torch_device", "torch_generator", "save_state", "load_state"):
        assert getattr(api, name) is getattr(torchkit, name) and name in api.__all__


def test_public_names_are_documented():
    doc = (ROOT / "docs" / "plugins.md").read_text()
    import benchbench.api as api

    missing = [n for n in api.__all__ if f"`{n}`" not in doc]
    assert not missing, f"docs/plugins.md does not document: {', '.join(missing)}"
