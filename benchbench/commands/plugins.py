"""`bench plugins` (list what is installed) and `bench plugins new` (write a plugin skeleton)."""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path
from typing import Any

import click


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--all", "show_all", is_flag=True,
              help="Include core's built-in parts; list each part's parameters, description and import target.")
@click.option("--hook", default=None, help="Only plugins implementing this hook.")
@click.option("--requirements", is_flag=True, help="Print name==version lines of installed plugins.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool, show_all: bool, hook: str | None, requirements: bool) -> None:
    """List plugins: name, version, hooks, what they register, load errors.

    \b
    bench plugins new detector NAME   writes an installable plugin skeleton
    """
    if ctx.invoked_subcommand is not None:
        return
    from benchbench.plugins import get_plugins

    pl = get_plugins().collect()
    infos = [i for i in pl.info.values() if show_all or not i.builtin]
    if hook:
        infos = [i for i in infos if hook in i.hooks]
    if requirements:
        for i in infos:
            if not i.builtin:
                click.echo(f"{i.dist or i.name}=={i.version}")
        return
    rows = []
    for i in infos:
        row = {"name": i.name, "distribution": i.dist, "version": i.version, "hooks": sorted(i.hooks),
               "registers": i.registers, "errors": i.errors}
        if show_all:
            row["targets"] = {kind: {n: pl.registries[kind].entries[n].target_name for n in names
                                     if n in pl.registries[kind].entries} for kind, names in i.registers.items()}
        rows.append(row)
    parts = [describe(e) for i in infos for kind in i.registers for e in pl.registries[kind]
             if e.plugin == i.name] if show_all else []
    if as_json:
        click.echo(json.dumps({"plugins": rows, "parts": parts} if show_all else rows, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    t = Table(title="benchbench plugins" + ("" if show_all else " (use --all to include built-ins)"))
    for col in ("plugin", "distribution", "version", "registers", "hooks", "errors"):
        t.add_column(col)
    for r in rows:
        regs = "\n".join(f"{k}: {', '.join(v)}" for k, v in r["registers"].items()) or "–"
        hooks = "\n".join(h.removeprefix("benchbench_") for h in r["hooks"])
        # every cell is a plugin's own text (a version "1.0[/]" is not markup)
        t.add_row(*map(escape, (r["name"], r["distribution"] or "–", r["version"], regs, hooks)),
                  "[red]" + escape("\n".join(r["errors"])) + "[/red]" if r["errors"] else "")
    Console().print(t)
    for part in parts:  # plain lines, not a table: parameter lists are long
        click.echo(f"\n{part['kind']} {part['name']}  (plugin {part['plugin']}, {part['target']})")
        if part["description"]:
            click.echo(f"  {part['description']}")
        click.echo(f"  parameters: {', '.join(part['parameters']) or 'none'}")
    if not rows:
        click.echo("no plugins installed (BENCHBENCH_PLUGINS may restrict them); `bench plugins --all` "
                   "shows core's built-ins")


def describe(entry: Any) -> dict[str, Any]:
    """What a matrix author needs about one registered part: its parameters (from the factory's
    signature), a description (the registration's ``description=`` or the docstring's first line)
    and the import target. Resolving imports the part's module, so only ``--all`` does it."""
    out = {"kind": entry.kind[:-1], "name": entry.name, "plugin": entry.plugin, "target": entry.target_name,
           "description": entry.meta.get("description"), "parameters": []}
    try:
        factory = entry.resolve()
    except Exception as exc:  # a part that cannot import is listed, with why
        out["parameters"] = [f"(cannot import: {str(exc).splitlines()[0]})"]
        return out
    doc = inspect.getdoc(factory) or ""
    out["description"] = out["description"] or (doc.splitlines()[0] if doc else None)
    fields = _option_fields(entry)
    if fields is not None:  # an executor's options model: listed without starting the executor
        out["parameters"] = fields
        return out
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return out
    named: dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.kind is param.VAR_KEYWORD:
            named.update(_defaults_from_params(factory, signature, named))
        elif param.kind is not param.VAR_POSITIONAL:
            named[param.name] = param.default
    out["parameters"] = [f"{k} (required)" if v is inspect.Parameter.empty else f"{k}={_short(v)}"
                         for k, v in named.items()]
    return out


def _option_fields(entry: Any) -> list[str] | None:
    """The fields of the options model an executor registered (``options=``), or None.

    Building an executor to read its defaults would start it: submitit's creates its job folder
    (``results/.submitit``) in the current directory.
    """
    if not entry.meta.get("options"):
        return None
    try:
        model = entry.options_model()
    except Exception:  # listed from the factory's signature instead
        return None
    fields = getattr(model, "model_fields", None)  # pydantic
    if fields is not None:
        return [f"{k} (required)" if f.is_required() else f"{k}={_short(f.get_default(call_default_factory=True))}"
                for k, f in fields.items()]
    if dataclasses.is_dataclass(model):
        return [_dataclass_field(f) for f in dataclasses.fields(model)]
    return None


def _dataclass_field(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return f"{f.name}={_short(f.default)}"
    if f.default_factory is not dataclasses.MISSING:
        return f"{f.name}={_short(f.default_factory())}"
    return f"{f.name} (required)"


def _defaults_from_params(factory: Any, signature: inspect.Signature, named: dict[str, Any]) -> dict[str, Any]:
    """A ``**params`` factory's defaults: what ``params()`` of a default instance reports (factories
    are cheap by contract: they validate and load nothing)."""
    if any(p.default is p.empty for p in signature.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD,
                                                                                      p.KEYWORD_ONLY)):
        return {"**params": inspect.Parameter.empty}
    try:
        params = factory().params()
    except Exception:
        return {"**params": inspect.Parameter.empty}
    return {k: v for k, v in params.items() if k not in named} if isinstance(params, dict) else {}


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


@plugins.command("new")
@click.argument("kind", type=click.Choice(["detector"]))
@click.argument("name")
@click.option("--dir", "parent", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder in which the plugin's folder (benchbench-NAME) is written.")
@click.option("--torch", "torch", is_flag=True,
              help="A torch detector: frames to training targets, device, training budget, safetensors state.")
def new(kind: str, name: str, parent: Path, torch: bool) -> None:
    """Write a ready, installable KIND plugin named NAME (a working detector to edit, README, tests).

    \b
    bench plugins new detector mydet        # -> ./benchbench-mydet (numpy)
    bench plugins new detector mydet --torch   # the same, as a small torch network
    cd benchbench-mydet && pip install -e . && pytest -q && bench plugins
    """
    from benchbench.scaffold import new_plugin

    names, out = new_plugin(kind, name, parent, "torch" if torch else None)
    click.echo(f"wrote {out}: distribution {names.dist}, package {names.package}, {kind} `{names.name}` "
               f"(class {names.cls}Detector{', torch' if torch else ''})")
    click.echo("next:")
    click.echo(f"  cd {out} && pip install -e . && pytest -q   # install first: the tests use the entry point")
    click.echo(f"  bench plugins                 # lists {names.name}")
    click.echo(f"  edit {names.package}/detector.py, then use `plugin: {names.name}` in a matrix")
