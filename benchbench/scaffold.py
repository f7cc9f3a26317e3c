"""`bench plugins new`: write a ready, installable plugin from the templates packaged with benchbench.

A template (``benchbench/plugin_templates/<kind>/``) is a working plugin whose names are the
placeholders below; writing one is a plain substitution, in file contents and in path parts.
The templates are valid Python, so the core's lint and the generated plugin's own tests keep
them honest (tests/test_scaffold.py installs a generated plugin and runs its tests).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path

from benchbench import __version__
from benchbench.errors import UserError

TEMPLATES = Path(__file__).resolve().parent / "plugin_templates"
KINDS = ("detector",)
NAME_RE = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
RENAMED = {"gitignore": ".gitignore"}  # a dotfile would be skipped by package-data globs


@dataclass(frozen=True)
class Names:
    """The four names of one plugin, all derived from the short NAME."""

    name: str  # registered name, used in a matrix as `plugin: NAME`
    dist: str  # pip distribution
    package: str  # import package
    cls: str  # class-name prefix

    @classmethod
    def of(cls, name: str) -> Names:
        if not NAME_RE.fullmatch(name or ""):
            raise UserError(f"plugin name {name!r} must be lower-case letters and digits, words joined by '-' "
                            "or '_', starting with a letter", field="NAME",
                            fix="e.g. `bench plugins new detector mydet` (makes benchbench-mydet)")
        if name.startswith("benchbench"):
            short = name.removeprefix("benchbench").lstrip("-_") or "mydet"
            raise UserError(f"plugin name {name!r} repeats the prefix: the distribution becomes "
                            f"benchbench-{name}", field="NAME", fix=f"give the short name, e.g. {short!r}")
        words = re.split(r"[-_]", name)
        package = "benchbench_" + "_".join(words)
        assert package.isidentifier() and not keyword.iskeyword(package)
        return cls(name=name, dist="benchbench-" + "-".join(words), package=package,
                   cls="".join(w.capitalize() for w in words))

    def substitutions(self) -> list[tuple[str, str]]:
        # Longest placeholders first; none of them is part of another.
        return [("BB_REQUIREMENT", requirement()), ("bb-dist", self.dist), ("bbpackage", self.package),
                ("BbClass", self.cls), ("bbname", self.name)]


def requirement() -> str:
    """The benchbench requirement a new plugin declares: this version up to the next minor one."""
    major, minor, *_ = (__version__.split(".") + ["0", "0"])
    return f"benchbench-ndt>={__version__},<{major}.{int(minor) + 1}"


def new_plugin(kind: str, name: str, parent: Path) -> tuple[Names, Path]:
    """Write the ``kind`` template for ``name`` into ``parent/<distribution>``; return the names and folder."""
    if kind not in KINDS:
        raise UserError(f"no plugin template for {kind!r}", field="KIND", fix=f"use one of: {', '.join(KINDS)}")
    names = Names.of(name)
    out = Path(parent) / names.dist
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} already exists and is not empty", file=out,
                        fix="choose another --dir or NAME, or remove the folder")
    source = TEMPLATES / kind
    subs = names.substitutions()
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_dir() or any(p.startswith(".") or p == "__pycache__" for p in rel.parts) \
                or path.suffix == ".pyc":  # caches that tools leave beside the sources
            continue
        parts = [RENAMED.get(p, _sub(p, subs)) for p in rel.parts]
        dest = out.joinpath(*parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(_sub(path.read_text(), subs))
    return names, out


def _sub(text: str, subs: list[tuple[str, str]]) -> str:
    for old, new in subs:
        text = text.replace(old, new)
    return text
