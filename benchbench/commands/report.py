"""`bench report` and `bench compare`, plus the comparison output shared with `bench leaderboard check`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

if TYPE_CHECKING:  # the statistics load only when a command runs
    from benchbench.analysis.stats import Comparison, Options

STATE_STYLE = {"worse": "bold red", "newly failing": "bold red", "better": "green", "fixed": "green",
               "~": "yellow", "same": "", "not comparable": "dim"}


def stat_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The significance options of `compare` and `leaderboard check`."""
    from benchbench.analysis.stats import DEFAULT_ALPHA, DEFAULT_N_BOOT

    for deco in reversed([
        click.option("--tolerance", "tolerances", multiple=True, metavar="[METRIC=]T",
                     help="Smallest change that counts, absolute (default 0.01); repeat for per-metric values, "
                          "e.g. --tolerance 0.01 --tolerance mAP50=0.02."),
        click.option("--alpha", type=float, default=DEFAULT_ALPHA, show_default=True,
                     help="Significance level of the paired bootstrap."),
        click.option("--n-boot", type=click.IntRange(100), default=DEFAULT_N_BOOT, show_default=True,
                     help="Bootstrap resamples."),
        click.option("--boot-seed", type=int, default=0, show_default=True, help="Seed of the resampling."),
        click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON."),
    ]):
        fn = deco(fn)
    return fn


def make_options(metrics: tuple[str, ...], tolerances: tuple[str, ...], alpha: float, n_boot: int,
                 boot_seed: int) -> Options:
    from benchbench.analysis.stats import Options, check_alpha, check_metric, parse_tolerances
    from benchbench.errors import UserError

    metrics = tuple(dict.fromkeys(check_metric(m) for m in metrics))
    alpha = check_alpha(alpha)
    if 2 / (n_boot + 1) >= alpha:  # the smallest bootstrap p-value; below it nothing could be significant
        raise UserError(f"{n_boot} resamples cannot reach p < {alpha:g}", field="--n-boot",
                        fix=f"use --n-boot {int(2 / alpha)} or more")
    return Options(metrics, parse_tolerances(tolerances, metrics), alpha, n_boot, boot_seed)


def wide_console():
    """A console for tables; logs and pipes (CI) get a wide fixed width instead of 80 columns."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 160)
    return console


def _fmt(x: float | None, digits: int = 3, sign: bool = False) -> str:
    if x is None or x != x:
        return "–"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def print_comparison(comparison: Comparison, title: str, as_json: bool, show_reference: bool = False) -> int:
    """Print a rich table (or JSON) and return the exit code: 1 on any regression, else 0."""
    from rich.table import Table

    from benchbench.analysis.report.table import fmt_guidance

    code = 1 if comparison.regressions else 0
    if as_json:
        click.echo(json.dumps(comparison.to_dict(), indent=2))
        return code
    t = Table(title=title)
    cols = ["setting", "metric", "seeds", *(["reference"] if show_reference else []),
            "A" if not show_reference else "ref", "B" if not show_reference else "new", "Δ [95% CI]", "p", "state"]
    for col in cols:
        left = col in ("setting", "metric", "reference", "state")
        t.add_column(col, justify="left" if left else "right", no_wrap=col not in ("setting", "reference"))
    if any(r.note for r in comparison.rows):
        t.add_column("note", overflow="fold")
    for r in comparison.rows:
        ci = f" [{_fmt(r.ci[0], sign=True)}, {_fmt(r.ci[1], sign=True)}]" if r.ci else ""
        style = STATE_STYLE.get(r.state, "")
        setting = f"{r.detector} · {r.generator or 'real only'}" + (
            "" if r.guidance is None else f" g{fmt_guidance(r.guidance)}") + f" · r{r.ratio:g}"
        t.add_row(escape(setting), escape(r.metric), ",".join(map(str, r.seeds)) or "–",
                  *([escape(r.reference or "–")] if show_reference else []), _fmt(r.a), _fmt(r.b),
                  escape(_fmt(r.delta, sign=True) + ci), _fmt(r.p, 3),
                  f"[{style}]{r.state}[/{style}]" if style else r.state,
                  *([escape(r.note)] if len(t.columns) > len(cols) else []))
    console = wide_console()
    console.print(t)
    counts = ", ".join(f"{n} {s}" for s, n in comparison.counts().items())
    tols = ", ".join(f"{m} {t:g}" for m, t in comparison.tolerances.items())
    verdict = "REGRESSION" if code else "no regression"
    console.print(f"{verdict}: {counts}. Paired bootstrap over seeds and test frames ({comparison.n_boot} "
                  f"resamples), alpha {comparison.alpha:g}, tolerance {tols}; regression = worse or newly failing.")
    for ref, lines in comparison.environment.items():
        console.print(f"[yellow]warning:[/yellow] {escape(ref)} ran in another environment: "
                      f"{escape('; '.join(lines))} — a difference may come from the software, not the change",
                      highlight=False)
    return code


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
def report(run_dir: str) -> None:
    """Write plots/*.png, report.md and a self-contained report.html for RUN_DIR (also done at the end of
    `bench run`)."""
    click.echo(write_report(run_dir))


def write_report(run_dir: str) -> str:
    """Plots, report.md and report.html of RUN_DIR (`bench report`, and after `bench rescore`); what was written."""
    from benchbench.analysis.report.build import build_report

    path = build_report(run_dir)
    plots = sorted((path.parent / "plots").glob("*.png"))
    return f"{path} ({len(plots)} plot(s) in {path.parent / 'plots'}), {path.with_suffix('.html')}"


@click.command()
@click.argument("run_a", type=click.Path(file_okay=False))
@click.argument("run_b", type=click.Path(file_okay=False))
@click.option("--metric", "metrics", multiple=True, default=("mAP50_95", "mAP50"), show_default=True,
              help="Metric to compare; repeat for several (mAP50_95, mAP50, mAP75, AR100, AP10, AP30, …).")
@stat_options
@click.pass_context
def compare(ctx: click.Context, run_a: str, run_b: str, metrics: tuple[str, ...], tolerances: tuple[str, ...],
            alpha: float, n_boot: int, boot_seed: int, as_json: bool) -> None:
    """Compare RUN_B against RUN_A (the reference), setting by setting, with a paired bootstrap.

    Exit 1 when a setting got worse (drop beyond the tolerance and significant) or newly fails,
    0 otherwise, 2 when nothing is comparable (other data or split) or on bad input.
    """
    from benchbench.analysis.stats import RunData, compare_runs
    from benchbench.errors import UserError

    opts = make_options(metrics, tolerances, alpha, n_boot, boot_seed)
    a, b = RunData.from_dir(run_a), RunData.from_dir(run_b)
    comparison = compare_runs(a, b, opts)
    if not comparison.comparable:
        reason = comparison.rows[0].note if comparison.rows else "no cells"
        raise UserError(f"nothing comparable between {run_a} and {run_b}: {reason}",
                        fix="compare runs made from the same data and split with common settings")
    ctx.exit(print_comparison(comparison, f"{b.label} (B) vs {a.label} (A)", as_json))
