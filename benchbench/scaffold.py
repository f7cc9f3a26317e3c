"""`bench plugins new`: write a ready, installable plugin from the templates packaged with benchbench.

A template (``benchbench/plugin_templates/<kind>/``) is a working plugin whose names are the
placeholders below; writing one is a plain substitution, in file contents and in path parts.
A flavour (``<kind>-<flavour>/``, e.g. ``detector-torch``) holds only the files it replaces,
laid over the kind's. The templates are valid Python, so the core's lint and the generated
plugin's own tests keep them honest (tests/test_scaffold.py installs generated plugins and
runs their tests).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from benchbench import __version__
from benchbench.errors import UserError
from benchbench.plugins import get_plugins

TEMPLATES = Path(__file__).resolve().parent / "plugin_templates"
KINDS = ("detector",)
FLAVOURS = ("torch",)
NAME_RE = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
RENAMED = {"gitignore": ".gitignore"}  # a dotfile would be skipped by package-data globs
MAX_NAME = 40  # characters: the name is part of a folder, a distribution and a package name


@dataclass(frozen=True)
class Names:
    """The four names of one plugin, all derived from the short NAME."""

    name: str  # registered name, used in a matrix as `plugin: NAME`
    dist: str  # pip distribution
    package: str  # import package
    cls: str  # class-name prefix

    @classmethod
    def of(cls, name: str) -> Names:
        if len(name or "") > MAX_NAME:
            raise UserError(f"plugin name is {len(name)} characters long, over {MAX_NAME}", field="NAME",
                            fix="give a short name, e.g. `bench plugins new detector mydet`")
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

    def substitutions(self, flavour: str | None = None) -> list[tuple[str, str]]:
        # Longest placeholders first; none of them is part of another.
        return [("# BB_FLAVOUR_DEPENDENCIES", flavour_dependencies(flavour)), ("BB_REQUIREMENT", requirement()),
                ("bb-dist", self.dist), ("bbpackage", self.package), ("BbClass", self.cls), ("bbname", self.name)]


def requirement() -> str:
    """The benchbench requirement a new plugin declares: this version up to the next minor one."""
    major, minor, *_ = (__version__.split(".") + ["0", "0"])
    return f"benchbench-ndt>={__version__},<{major}.{int(minor) + 1}"


def torch_requirement() -> str:
    """benchbench's own torch pin (its extra ``torch``): a plugin asking for another build gets it swapped in."""
    try:
        pins = [r.split(";")[0].strip() for r in metadata.requires("benchbench-ndt") or ()
                if re.match(r"torch\s*[=<>~]", r) and 'extra == "torch"' in r]
    except metadata.PackageNotFoundError:  # a source checkout that was never installed
        pins = []
    return pins[0] if pins else "torch"


def flavour_dependencies(flavour: str | None) -> str:
    """The generated pyproject's dependency lines that depend on the flavour (placeholder BB_FLAVOUR_DEPENDENCIES)."""
    torch = torch_requirement()
    if flavour == "torch":
        return f'"{torch}",  # benchbench\'s build\n    "safetensors>=0.4",  # benchbench.api.save_state / load_state'
    return (f'"scipy>=1.11",\n    # with torch: "{torch}" and "safetensors>=0.4" '
            "(`bench plugins new detector NAME --torch` writes a torch detector)")


def new_plugin(kind: str, name: str, parent: Path, flavour: str | None = None) -> tuple[Names, Path]:
    """Write the ``kind`` template (in ``flavour``, e.g. "torch") for ``name`` into ``parent/<distribution>``;
    return the names and folder."""
    if kind not in KINDS:
        raise UserError(f"no plugin template for {kind!r}", field="KIND", fix=f"use one of: {', '.join(KINDS)}")
    if flavour is not None and flavour not in FLAVOURS:
        raise UserError(f"no {flavour!r} flavour of the {kind} template", field="flavour",
                        fix=f"use one of: {', '.join(FLAVOURS)}")
    names = Names.of(name)
    _refuse_taken(kind, names.name)
    out = Path(parent) / names.dist
    try:
        if out.exists() and any(out.iterdir()):
            raise UserError(f"{out} already exists and is not empty", file=out,
                            fix="choose another --dir or NAME, or remove the folder")
        _write(kind, flavour, names, out)
    except OSError as exc:  # a read-only, missing or special --dir (/proc/1): one line, not a traceback
        raise UserError(f"cannot write the plugin there ({exc.strerror or exc})", file=exc.filename or out,
                        field="--dir", fix="give a --dir you can write to") from None
    return names, out


def _refuse_taken(kind: str, name: str) -> None:
    """A plugin registering a name that an installed or built-in one has would fail to load."""
    registry = get_plugins().registry(f"{kind}s")
    if name in registry:
        raise UserError(f"{kind} name {name!r} is taken by plugin {registry.get(name).plugin!r}", field="NAME",
                        fix=f"choose another name (taken: {', '.join(sorted(e.name for e in registry))})")


def _write(kind: str, flavour: str | None, names: Names, out: Path) -> None:
    files = _template_files(TEMPLATES / kind)
    if flavour is not None:
        files |= _template_files(TEMPLATES / f"{kind}-{flavour}")
    subs = names.substitutions(flavour)
    for rel, path in sorted(files.items()):
        dest = out.joinpath(*[RENAMED.get(p, _sub(p, subs)) for p in rel.parts])
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(_sub(path.read_text(), subs))


def _template_files(source: Path) -> dict[Path, Path]:
    """Relative path -> file of one template folder, without the caches tools leave beside the sources."""
    return {path.relative_to(source): path for path in source.rglob("*")
            if path.is_file() and path.suffix != ".pyc"
            and not any(p.startswith(".") or p == "__pycache__" for p in path.relative_to(source).parts)}


def _sub(text: str, subs: list[tuple[str, str]]) -> str:
    for old, new in subs:
        text = text.replace(old, new)
    return text
