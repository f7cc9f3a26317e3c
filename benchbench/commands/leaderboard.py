"""`bench leaderboard submit | show | check`: record runs, rank them, gate regressions in CI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from benchbench.commands.report import make_options, print_comparison, stat_options, wide_console

if TYPE_CHECKING:
    from benchbench.analysis.leaderboard import Entry
    from benchbench.analysis.stats import SeedStat


def db_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    from benchbench.analysis.leaderboard import DEFAULT_DB, DEFAULT_TIMEOUT_S, TIMEOUT_ENV

    fn = click.option("--timeout", type=click.FloatRange(0), default=DEFAULT_TIMEOUT_S, show_default=True,
                      envvar=TIMEOUT_ENV, show_envvar=True,
                      help="Seconds to wait for a database locked by another process.")(fn)
    return click.option("--db", type=click.Path(dir_okay=False), default=str(DEFAULT_DB), show_default=True,
                        envvar="BENCHBENCH_LEADERBOARD", show_envvar=True, help="Leaderboard SQLite file.")(fn)


@click.group()
def leaderboard() -> None:
    """Record runs in a SQLite leaderboard, rank them, and fail CI on regressions.

    \b
      bench leaderboard submit results/quickstart
      bench leaderboard show --format html --out leaderboard.html
      bench leaderboard check results/quickstart --against best   # exit 1 on a regression
    """


@leaderboard.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@db_options
def submit(run_dir: str, db: str, timeout: float) -> None:
    """Store every cell of RUN_DIR with its run metadata; submitting again adds nothing."""
    from benchbench.analysis.leaderboard import Leaderboard

    with Leaderboard(db, write=True, timeout=timeout) as lb:
        res = lb.submit_run(run_dir)
    click.echo(f"{run_dir}: run {res.run_id[:8]}: {res.added} cell(s) added, {res.already} already there → {db}")


def _ci(stat: SeedStat | None) -> str:
    if stat is None:
        return "–"
    if stat.lo != stat.lo or stat.hi != stat.hi:  # NaN: one seed and no bootstrap CI
        return f"{stat.mean:.3f}"
    return f"{stat.mean:.3f} [{stat.lo:.3f}, {stat.hi:.3f}]"


HEADERS = ["#", "detector", "generator", "guidance", "ratio", "seeds"]
TAIL = ["run", "commit", "started"]


def _rows(entries: list[Entry], metrics: list[str]) -> list[list[str]]:
    from benchbench.analysis.report.table import fmt_guidance

    out = []
    for e in entries:
        gen = "real only" if e.generator is None else f"{e.generator} ({e.generator_plugin})"
        seeds = ",".join(map(str, e.seeds)) + (f" ({e.n_failed} failed)" if e.n_failed else "")
        out.append([str(e.rank), f"{e.detector} ({e.detector_plugin})", gen, fmt_guidance(e.guidance), f"{e.ratio:g}",
                    seeds or "–", *(_ci(e.stats.get(m)) for m in metrics), e.run.label,
                    (e.run.git_commit or "–")[:8], (e.run.started or "–")[:16].replace("T", " ")])
    return out


def _md_rows(entries: list[Entry], metrics: list[str]) -> list[list[str]]:
    """_rows with the names that runs and plugins chose made literal markdown text."""
    from benchbench.analysis.report.markdown import md_text

    named = (1, 2, len(HEADERS) + len(metrics))  # detector, generator, run
    return [[md_text(v) if i in named else v for i, v in enumerate(row)] for row in _rows(entries, metrics)]


def _by_setting(entries: list[Entry]) -> dict[str, list[Entry]]:
    groups: dict[str, list[Entry]] = {}
    for e in entries:
        groups.setdefault(e.manifest_hash, []).append(e)
    return groups


def _setting_title(entries: list[Entry]) -> str:
    e = entries[0]
    n_test = f", {e.n_test} test frames" if e.n_test is not None else ""
    return f"{e.dataset}{n_test} (data manifest {e.manifest_hash[:12]})"


@leaderboard.command()
@click.option("--detector", default=None, help="Only this detector (matrix name).")
@click.option("--generator", default=None, help="Only this generator (matrix name); 'real' for the baselines.")
@click.option("--metric", default="mAP50_95", show_default=True, help="Rank by this metric.")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "json", "html"]), default="table",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write to this file (html default: leaderboard.html beside the database).")
@db_options
def show(detector: str | None, generator: str | None, metric: str, fmt: str, out: str | None, db: str,
         timeout: float) -> None:
    """Rank entries (a run's setting, mean and 95% CI over seeds) per comparable setting (data + split)."""
    import json

    from benchbench.analysis.leaderboard import SHOWN_METRICS, Leaderboard

    metrics = list(dict.fromkeys([metric, *SHOWN_METRICS]))
    with Leaderboard(db, timeout=timeout) as lb:
        entries = lb.entries(detector=detector, generator=generator, rank_by=metric, metrics=metrics)
    for line in lb.warnings:
        click.echo(f"warning: {line}", err=True)
    headers = HEADERS + [f"{m} [95% CI]" for m in metrics] + TAIL
    if fmt == "json":
        text = json.dumps({"db": db, "rank_by": metric, "entries": [e.to_dict() for e in entries]}, indent=2) + "\n"
    elif fmt == "markdown":
        from benchbench.analysis.report.markdown import md_table, md_text

        text = "".join(f"### {md_text(_setting_title(es))}\n\n{md_table(headers, _md_rows(es, metrics))}\n"
                       for es in _by_setting(entries).values()) or "No entries.\n"
    elif fmt == "html":
        text = _html(entries, headers, metrics, metric)
        out = out or str(Path(db).with_name("leaderboard.html"))
    else:
        import io

        from rich.console import Console

        if not out:
            wide_console().print(*_tables(entries, headers, metrics))
            return
        console = Console(file=io.StringIO(), width=200)  # a file gets plain text at a fixed width
        console.print(*_tables(entries, headers, metrics))
        text = console.file.getvalue()
    if out:
        from benchbench.records.store import atomic_write_text

        atomic_write_text(Path(out), text)
        click.echo(f"{len(entries)} entries → {out}")
    else:
        click.echo(text, nl=False)


def _tables(entries: list[Entry], headers: list[str], metrics: list[str]) -> list[Any]:
    from rich.markup import escape
    from rich.table import Table

    tables = []
    for es in _by_setting(entries).values():  # names, versions and labels come from runs and plugins: literal
        t = Table(title=escape(_setting_title(es)))
        for h in headers:
            t.add_column(h, justify="left" if h in ("detector", "generator", "run") else "right")
        for r in _rows(es, metrics):
            t.add_row(*map(escape, r))
        tables.append(t)
    return tables or ["No entries."]


def _html(entries: list[Entry], headers: list[str], metrics: list[str], metric: str) -> str:
    from benchbench.analysis.report.html import page
    from benchbench.analysis.report.plots import leaderboard_png, metric_label

    sections = []
    for es in _by_setting(entries).values():
        labels = [f"#{e.rank} {e.detector} · {e.generator or 'real'}"
                  f"{'' if e.guidance is None else f' g{e.guidance:g}'} · r{e.ratio:g} · {e.run.label}" for e in es]
        png = leaderboard_png(labels, [e.stats.get(metric) for e in es], metric, _setting_title(es))
        sections.append({"heading": _setting_title(es), "headers": headers, "rows": _rows(es, metrics),
                         "left": (1, 2, len(headers) - 3), "png": png,
                         "alt": f"{metric_label(metric)} per entry, mean and 95% CI"})
    return page("benchbench leaderboard", sections,
                note=f"ranked by {metric}; mean over seeds, 95% CI (t over seeds, or the bootstrap CI for one seed)")


@leaderboard.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--against", default="best", show_default=True,
              help="Reference per setting: best (best mean of the first --metric), latest, or a run id/name.")
@click.option("--metric", "metrics", multiple=True, default=("mAP50_95",), show_default=True,
              help="Gated metric; repeat for several.")
@stat_options
@db_options
@click.pass_context
def check(ctx: click.Context, run_dir: str, against: str, metrics: tuple[str, ...], tolerances: tuple[str, ...],
          alpha: float, n_boot: int, boot_seed: int, as_json: bool, db: str, timeout: float) -> None:
    """Compare RUN_DIR with its reference in the leaderboard; exit 1 on a regression.

    A regression is a drop larger than the tolerance and significant (paired bootstrap over seeds
    and test frames), or a cell that newly fails. Exit 2 when nothing is comparable.
    """
    from benchbench.analysis.leaderboard import Leaderboard

    opts = make_options(metrics, tolerances, alpha, n_boot, boot_seed)
    with Leaderboard(db, timeout=timeout) as lb:
        comparison = lb.check(run_dir, against, opts)
    for line in lb.warnings:
        click.echo(f"warning: {line}", err=True)
    ctx.exit(print_comparison(comparison, f"{run_dir} vs leaderboard ({against})", as_json, show_reference=True))
