"""`bench rescore RUN_DIR`: a finished run's metrics again, with the current evaluator, without refitting."""

from __future__ import annotations

import sys

import click

MOST_REASONS = 3  # skip reasons spelled out in the summary line; the rest are counted


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--dry-run", is_flag=True, help="Check the run's data and list what would be rescored; write nothing.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=".benchbench-cache", show_default=True,
              envvar="BENCHBENCH_CACHE", help="Frame cache (simulated data is written there, as by `bench run`).")
@click.option("--quiet", "-q", is_flag=True, help="No progress, only the summary line.")
@click.option("--no-report", is_flag=True, help="Skip plots and report.md (results.json is rewritten).")
def rescore(run_dir: str, dry_run: bool, cache_dir: str, quiet: bool, no_report: bool) -> None:
    """Score every finished cell of RUN_DIR again from its saved predictions with the current evaluator,
    then rewrite results.json and the report. Nothing is fitted; cell keys are kept, so `bench run`
    still resumes the cells.

    Run it where the run was started: the test frames are rebuilt from the matrix recorded in
    results.json and must be the run's (test_gt.json as written, data manifest), else exit 2; cell ids
    and artifact paths that lead outside RUN_DIR are refused (exit 2). Exit 1 when a cell was skipped
    (its predictions missing, unreadable or changed since the run wrote them), 0 otherwise.
    """
    from rich.console import Console
    from rich.markup import escape

    from benchbench.analysis.rescore import cell_inputs, open_run, rescore_run
    from benchbench.plugins import get_plugins
    from benchbench.records.cache import Cache
    from benchbench.records.store import Unusable

    console = Console(stderr=True, quiet=quiet)
    cache = Cache(cache_dir)
    with console.status("rebuilding the run's test frames…"):
        run = open_run(run_dir, cache, get_plugins())
    candidates = run.candidates
    untouched = len(run.records) - len(candidates)
    if dry_run:
        for line in run.warnings:
            console.print(f"[yellow]warning: {escape(line)}[/yellow]", soft_wrap=True)
        skipped = {}
        for record in candidates:
            try:
                how = cell_inputs(run, record).threshold_from
                click.echo(f"{record['id']}: would rescore (operating threshold: {how})")
            except Unusable as exc:  # a Skip, or its saved files
                skipped[record["id"]] = str(exc)
                click.echo(f"{record['id']}: would skip: {exc}")
        click.echo(_summary(len(candidates) - len(skipped), skipped, untouched, "would be rescored"), err=True)
        return

    from benchbench.progress import progress_for

    progress = progress_for(console)

    def on_cell(cell_id: str, res, why: str | None) -> None:
        if why is not None:
            console.print(f"[yellow]skipped {escape(cell_id)}: {escape(why)}[/yellow]", soft_wrap=True)
        progress.cell_done({"id": cell_id}, mark="rescored" if why is None else "[yellow]skipped[/yellow]")

    with progress:
        progress.start(len(candidates), 0)
        summary = rescore_run(run, on_cell)
    for line in summary.warnings:
        console.print(f"[yellow]warning: {escape(line)}[/yellow]", soft_wrap=True)
    if summary.interrupted:
        click.echo(f"interrupted: {len(summary.rescored)} cell(s) rescored (results.json rewritten with them), "
                   "the others unchanged; run `bench rescore` again to finish", err=True)
        sys.exit(130)
    if summary.rescored and not no_report:
        from benchbench.commands.report import write_report

        try:
            console.print(write_report(run_dir), soft_wrap=True)
        except Exception as exc:  # the cells and results.json are written: a plot must not fail the command
            console.print(f"[yellow]warning: report not written: {escape(str(exc))}[/yellow]", soft_wrap=True)
    click.echo(_summary(len(summary.rescored), summary.skipped, untouched, "rescored")
               + f" → {run.root / 'results.json'}", err=True)
    sys.exit(1 if summary.skipped else 0)


def _summary(n_done: int, skipped: dict[str, str], untouched: int, verb: str) -> str:
    """``N cells rescored, M skipped (id: why; …)``, and the failed cells left as they are."""
    text = f"{n_done} cell(s) {verb}, {len(skipped)} skipped"
    if skipped:
        reasons = [f"{cid}: {why}" for cid, why in list(skipped.items())[:MOST_REASONS]]
        more = len(skipped) - MOST_REASONS
        text += f" ({'; '.join(reasons)}{f'; and {more} more' if more > 0 else ''})"
    if untouched:
        text += f"; {untouched} failed cell(s) left as they are (nothing to score)"
    return text
