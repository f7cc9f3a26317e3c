"""The ``bench`` command: thin wrappers over library functions, errors mapped to exit codes.

Subcommands live in ``benchbench.commands.*`` and are imported only when used, so
``bench --help`` stays fast and never imports torch.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from benchbench import __version__

# name -> (module:attr, short help). Listing commands imports nothing.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("benchbench.commands.run:run", "Run (or resume) a benchmark matrix."),
    "validate": ("benchbench.commands.run:validate", "Check a matrix file and its plugins without running."),
    "plugins": ("benchbench.commands.plugins:plugins", "List installed plugins and what they register."),
    "eval": ("benchbench.commands.eval:eval_cmd", "COCO-evaluate a predictions JSON against ground truth."),
    "data": ("benchbench.commands.data:data", "Fetch, check and simulate datasets."),
    "report": ("benchbench.commands.report:report", "Write plots and report.md for a run folder."),
    "rescore": ("benchbench.commands.rescore:rescore", "Re-evaluate a finished run's saved predictions, no refit."),
    "schema": ("benchbench.commands.schema:schema", "Print the JSON Schema of results.json, a cell or answer.json."),
    "compare": ("benchbench.commands.report:compare", "Compare two runs with significance tests."),
    "leaderboard": ("benchbench.commands.leaderboard:leaderboard", "Record runs and gate regressions."),
    "train": ("benchbench.commands.groups:train", "Train generators (commands added by plugins)."),
    "generators": ("benchbench.commands.groups:generators", "Score generated frames; generator weights utilities."),
}


class BenchGroup(click.Group):
    """Lazy subcommands + plugin-contributed commands + one-line errors (exit 2)."""

    _plugin_commands_added = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands()
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        if name in COMMANDS:
            mod, _, attr = COMMANDS[name][0].partition(":")
            try:
                cmd = getattr(importlib.import_module(mod), attr)
            except ImportError as exc:
                raise click.ClickException(f"command '{name}' is unavailable: {exc}") from None
            self.add_command(cmd, name)
            if name in ("train", "generators"):
                self._add_plugin_commands()
            return cmd
        self._add_plugin_commands()
        return self.commands.get(name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, COMMANDS[n][1]) for n in sorted(COMMANDS)]
        rows += [(n, c.get_short_help_str()) for n, c in sorted(self.commands.items()) if n not in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def _add_plugin_commands(self) -> None:
        if BenchGroup._plugin_commands_added:
            return
        BenchGroup._plugin_commands_added = True
        for name in ("train", "generators"):
            if name not in self.commands:
                self.get_command(click.Context(self), name)
        from benchbench.plugins import get_plugins  # only when a plugin may add commands: fast --help

        plugins = get_plugins()
        # a broken plugin must not break the CLI: its failure is a warning and a `bench plugins` error
        for plugin, exc in plugins.call_each("benchbench_register_commands", lambda _plugin: {"cli": self}):
            plugins.info[plugin].errors.append(f"benchbench_register_commands failed: {exc}")
            click.echo(f"warning: plugin {plugin} failed to add commands: {exc}", err=True)

    def invoke(self, ctx: click.Context) -> Any:
        from benchbench.errors import BenchError, DiskFull, is_disk_full  # off the start-up path

        try:
            return super().invoke(ctx)
        except (BenchError, OSError) as exc:
            if (ctx.obj and ctx.obj.get("debug")) or not (isinstance(exc, BenchError) or is_disk_full(exc)):
                raise
            if not isinstance(exc, BenchError):  # a full disk where no writer named its folder
                exc = DiskFull(os.path.dirname(exc.filename) if isinstance(exc.filename, str) else "?")
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=BenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="benchbench")
@click.option("--debug", is_flag=True, envvar="BENCHBENCH_DEBUG", help="Show tracebacks.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """benchbench: benchmark crack detectors trained with and without synthetic frames.

    \b
    Quick start:
      bench run examples/quickstart.yaml          # run (or resume) a matrix
      bench run examples/quickstart.yaml --dry-run
      bench plugins                                # what is installed
    Exit codes: 0 ok, 1 failed cells or a regression, 2 user error.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    os.environ.setdefault("MPLBACKEND", "Agg")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
