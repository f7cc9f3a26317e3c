"""The layers of docs/architecture.md, checked on the real imports.

Every module under benchbench/ is parsed with ``ast`` (imports inside functions and under
``TYPE_CHECKING`` included), each import is mapped to the layers of the two modules, and every
import must go one of the allowed ways. A failure names the file, the line and the rule it breaks.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "benchbench"

# Lowest first: a module imports its own layer and the ones below it, never one above (RULES has the
# few named exceptions and the narrower rules).
ORDER = ("foundation", "records", "kits", "method", "analysis", "pipeline", "surface", "commands")
SUBPACKAGES = {  # the first dotted part under benchbench -> its layer; a top-level module is foundation
    "records": "records",
    "data": "kits", "metrics": "kits", "drawing": "kits", "executors": "kits",
    "method": "method",
    "analysis": "analysis",
    "pipeline": "pipeline",
    "builtins": "surface", "diffusion": "surface", "api": "surface", "testing": "surface",
    "pytest_plugin": "surface", "scaffold": "surface",
    "commands": "commands", "cli": "commands",
}
# Upward imports that are the design, not a slip: the plugin manager loads the built-in plugins
# exactly as it loads an installed one (by importing their hook modules).
UPWARD = {("benchbench.plugins", "benchbench.builtins.hooks"), ("benchbench.plugins", "benchbench.builtins.observers")}
# The pipeline ends a run with the parts of results.json that are analysis (the generator scores);
# it never draws a report (report/ is `bench report`'s, run after it) nor reads back a run folder
# the way the analysis does.
PIPELINE_MAY_USE = ("benchbench.analysis.genscore",)


@dataclass(frozen=True)
class Import:
    file: Path  # relative to the checked root
    line: int
    importer: str  # dotted module names
    imported: str


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def collect(root: Path, package: str = "benchbench") -> tuple[list[Import], set[str]]:
    """Every import of ``package`` by a module of it under ``root`` (the folder holding ``package``),
    and the names of its modules."""
    files = sorted(p for p in (root / package).rglob("*.py") if "plugin_templates" not in p.parts)
    modules = {module_name(p, root) for p in files}
    found = []
    for path in files:
        importer = module_name(path, root)
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the importer's package
                    here = importer.split(".") if is_package else importer.split(".")[:-1]
                    here = here[:len(here) - node.level + 1]
                    base = ".".join(here + ([base] if base else []))
                # `from pkg import sub` imports the module pkg.sub when there is one
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            rel = path.relative_to(root)
            found += [Import(rel, node.lineno, importer, n) for n in dict.fromkeys(names)
                      if n == package or n.startswith(package + ".")]
    return found, modules


def layer_of(module: str) -> str:
    parts = module.split(".")
    return SUBPACKAGES.get(parts[1], "foundation") if len(parts) > 1 else "foundation"


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def broken_rule(imp: Import) -> str | None:
    """The rule ``imp`` breaks, in words, or None."""
    src, dst = layer_of(imp.importer), layer_of(imp.imported)
    if (imp.importer, imp.imported) in UPWARD:
        return None
    if src == "analysis" and dst == "pipeline":
        return "the analysis reads what the pipeline writes (benchbench.records), never the pipeline itself"
    if dst == "commands" and src != "commands":
        return "only the CLI imports benchbench.commands / benchbench.cli"
    if src == "pipeline" and dst == "analysis" and not within(imp.imported, PIPELINE_MAY_USE):
        return ("the pipeline uses the analysis only for the generator scores it writes "
                f"({', '.join(PIPELINE_MAY_USE)}), never report/ or a reader of run folders")
    if ORDER.index(dst) > ORDER.index(src):
        return f"{src} imports {dst}, a layer above it (order: {' < '.join(ORDER)})"
    return None


def violations(imports: list[Import]) -> list[str]:
    return [f"{imp.file}:{imp.line}: {imp.importer} imports {imp.imported}: {rule}"
            for imp in imports if (rule := broken_rule(imp)) is not None]


def test_every_import_of_benchbench_goes_an_allowed_way():
    imports, modules = collect(ROOT)
    assert len(modules) > 100 and len(imports) > 300, "benchbench/ not found"
    bad = violations(imports)
    assert not bad, "layer rules broken (docs/architecture.md):\n" + "\n".join(bad)


def test_every_subpackage_has_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()} - {"plugin_templates"}
    assert packages <= set(SUBPACKAGES), f"give {sorted(packages - set(SUBPACKAGES))} a layer in SUBPACKAGES"


def test_the_moved_couplings_stay_gone():
    """The issue #24 measurements: rescore, report/ and genscore's predictions import neither the runner,
    the jobs nor the planner; the runner and the jobs draw no report."""
    imports, _ = collect(ROOT)
    edges = {(i.importer, i.imported) for i in imports}
    pipeline = ("benchbench.pipeline.runner", "benchbench.pipeline.jobs", "benchbench.pipeline.planner")
    assert not [e for e in edges if within(e[0], ("benchbench.analysis",)) and within(e[1], pipeline)]
    assert not [e for e in edges if within(e[0], pipeline) and within(e[1], ("benchbench.analysis.report",))]


def test_docs_architecture_names_the_order_and_every_module():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    assert " < ".join(ORDER) in doc, "docs/architecture.md states another layer order than ORDER"
    _, modules = collect(ROOT)
    missing = []
    for name in sorted(modules):
        rel = name.removeprefix("benchbench.").replace(".", "/")
        if name == "benchbench" or Path(rel).name == "__init__" or (PACKAGE / rel / "__init__.py").is_file():
            continue  # packages: their modules are listed
        folder, _, stem = rel.rpartition("/")
        if f"`{rel}`" not in doc and not (f"`{folder}/`" in doc and f"`{stem}`" in doc):
            missing.append(rel)
    assert not missing, f"docs/architecture.md's module table lacks {missing}"


# --------------------------------------------------------------------------- the checker itself
def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def tree(tmp_path):
    """A small benchbench-shaped package: one module per layer, allowed imports only."""
    for pkg in ("benchbench", "benchbench/records", "benchbench/analysis", "benchbench/analysis/report",
                "benchbench/pipeline", "benchbench/commands", "benchbench/builtins"):
        write(tmp_path, f"{pkg}/__init__.py", "")
    write(tmp_path, "benchbench/errors.py", "")
    write(tmp_path, "benchbench/plugins.py", "def load():\n    from benchbench.builtins import hooks\n")
    write(tmp_path, "benchbench/builtins/hooks.py", "")
    write(tmp_path, "benchbench/records/store.py", "from benchbench.errors import UserError\n")
    write(tmp_path, "benchbench/pipeline/runner.py", "from benchbench.records import store\n")
    write(tmp_path, "benchbench/analysis/report/build.py", "from ...records.store import x\n")
    write(tmp_path, "benchbench/commands/run.py", "import benchbench.pipeline.runner\n")
    return tmp_path


def test_the_checker_passes_allowed_imports(tree):
    imports, _ = collect(tree)
    assert {(i.importer, i.imported) for i in imports} >= {
        ("benchbench.plugins", "benchbench.builtins.hooks"),  # `from pkg import module`, inside a function
        ("benchbench.analysis.report.build", "benchbench.records.store"),  # relative
        ("benchbench.commands.run", "benchbench.pipeline.runner")}
    assert violations(imports) == []


@pytest.mark.parametrize(("rel", "source", "rule"), [
    ("benchbench/analysis/report/build.py", "import json\n\n\ndef f():\n    from benchbench.pipeline import runner\n",
     "the analysis reads what the pipeline writes"),
    ("benchbench/pipeline/runner.py", "import json\nfrom benchbench.analysis.report.build import x\n",
     "the pipeline uses the analysis only for the generator scores"),
    ("benchbench/records/store.py", "from benchbench.pipeline.runner import Runner\n",
     "records imports pipeline, a layer above it"),
    ("benchbench/errors.py",
     "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import benchbench.records.store\n",
     "foundation imports records, a layer above it"),
    ("benchbench/pipeline/runner.py", "from ..commands import run\n", "only the CLI imports benchbench.commands"),
])
def test_the_checker_names_file_line_and_rule(tree, rel, source, rule):
    write(tree, rel, source)
    bad = violations(collect(tree)[0])
    assert len(bad) == 1, bad
    line = source[:source.index("benchbench") if "benchbench" in source else source.index("..")].count("\n") + 1
    assert bad[0].startswith(f"{rel}:{line}: ") and rule in bad[0], bad
