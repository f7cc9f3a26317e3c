"""`bench plugins`."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--all", "show_all", is_flag=True, help="Include core's built-in parts and import targets.")
@click.option("--hook", default=None, help="Only plugins implementing this hook.")
@click.option("--requirements", is_flag=True, help="Print name==version lines of installed plugins.")
def plugins(as_json: bool, show_all: bool, hook: str | None, requirements: bool) -> None:
    """List plugins: name, version, hooks, what they register, load errors."""
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
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="benchbench plugins" + ("" if show_all else " (use --all to include built-ins)"))
    for col in ("plugin", "distribution", "version", "registers", "hooks", "errors"):
        t.add_column(col)
    for r in rows:
        regs = "\n".join(f"{k}: {', '.join(v)}" for k, v in r["registers"].items()) or "–"
        hooks = "\n".join(h.removeprefix("benchbench_") for h in r["hooks"])
        t.add_row(r["name"], r["distribution"] or "–", r["version"], regs, hooks,
                  "[red]" + "\n".join(r["errors"]) + "[/red]" if r["errors"] else "")
    Console().print(t)
    if not rows:
        click.echo("no plugins installed (BENCHBENCH_PLUGINS may restrict them); `bench plugins --all` "
                   "shows core's built-ins")
