"""`bench run` and `bench validate`."""

from __future__ import annotations

import contextlib
import json
import sys
from contextlib import contextmanager
from pathlib import Path

import click

MAX_TABLE_ROWS = 100  # beyond this a per-cell table is noise in a terminal (and slow to render)


def _load(matrix_file: str, executor: str | None = None, executor_options: dict | None = None):
    """The matrix, its plugins checked, and its executor options with the command line's over them."""
    from benchbench.analysis.genscore.runscores import check_extractors
    from benchbench.executors.options import run_executor_options
    from benchbench.method.matrix import check_plugins, load_matrix
    from benchbench.plugins import get_plugins

    matrix, digest = load_matrix(matrix_file)
    check_plugins(matrix, matrix_file, get_plugins(), executor=False)
    run_executor_options(get_plugins(), matrix, matrix_file, executor, executor_options or {})
    check_extractors(matrix, matrix_file, get_plugins())
    return matrix, digest


@contextmanager
def _naming(matrix_file: str):
    """Errors raised while the matrix's data is loaded name the matrix file when they name no other."""
    from benchbench.errors import UserError

    try:
        yield
    except UserError as exc:
        if exc.file is not None:
            raise
        raise UserError(exc.detail, file=matrix_file, field=exc.field, fix=exc.fix) from None


@click.command()
@click.argument("matrix_file", metavar="MATRIX", type=click.Path(dir_okay=False))
def validate(matrix_file: str) -> None:
    """Check MATRIX: YAML, fields, and that every named plugin exists and accepts its parameters."""
    from benchbench.data.split import load_split
    from benchbench.pipeline.runner import generator_provenance
    from benchbench.plugins import get_plugins

    matrix, _ = _load(matrix_file)
    # The data too: the split, and that no generator was trained on its test specimens (of any fold).
    data = load_split(matrix, matrix_file, get_plugins())
    provenance = generator_provenance(matrix, matrix_file, get_plugins(), data.folds, matrix.used_generators())
    n_gen = len(matrix.generators)
    click.echo(f"{matrix_file}: ok — {len(matrix.detectors)} detector(s), {n_gen} generator(s), "
               f"{len(matrix.axes.synthetic_ratio)} ratio(s), {len(matrix.axes.guidance)} guidance(s), "
               f"{len(matrix.seed)} seed(s); {_test_sets(data.folds)}")
    for name, p in provenance.items():
        if p.get("warning"):
            click.echo(f"warning: {p['warning']}", err=True)
        if p["status"] == "unknown":
            continue
        for rec in p.get("folds", [p]):
            where = f" (fold {rec['fold']})" if "fold" in rec else ""
            if rec["n_frames"]:
                click.echo(f"  generator {name}{where}: trained on {rec['n_frames']} frames of "
                           f"{', '.join(rec['groups'])}, none held out")
            else:
                click.echo(f"  generator {name}{where}: learns from no frame ({rec['trainer']})")
            if cal := rec.get("calibration"):
                click.echo(f"  generator {name}{where}: calibrated on {cal['n_frames']} training frames of "
                           f"{', '.join(cal['groups'])}, none held out")


def _test_sets(folds) -> str:
    """The held-out frames, as one line: the plain split's test set, or each fold's."""
    if folds[0].index is None:
        return f"test {len(folds[0].test)} frames of {', '.join(folds[0].test_groups)}"
    return f"{len(folds)} folds, testing " + "; ".join(
        f"f{f.index}: {len(f.test)} frames of {', '.join(f.test_groups)}" for f in folds)


@click.command()
@click.argument("matrix_file", metavar="MATRIX", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Print the cells and the generation plan; run nothing.")
@click.option("--fresh", is_flag=True, help="Discard this run's finished cells and start over.")
@click.option("--workers", type=int, default=None,
              help="Jobs at once: local processes (default 1: sequential), a local Ray cluster's size, "
                   "or submitit's array parallelism.")
@click.option("--executor", default=None, help="local (default), ray, submitit or a plugin's executor.")
@click.option("-x", "--executor-option", "executor_option", multiple=True, metavar="KEY=VALUE",
              help="An option of the executor, over the matrix's executor mapping (repeatable; VALUE is YAML), "
                   "e.g. -x address=auto -x num_gpus=1 (ray), -x partition=gpu -x time=240 (submitit).")
@click.option("--results-dir", type=click.Path(file_okay=False), default="results", show_default=True)
@click.option("--cache-dir", type=click.Path(file_okay=False), default=".benchbench-cache", show_default=True,
              envvar="BENCHBENCH_CACHE")
@click.option("--run-name", default=None, help="Run folder name (default: the matrix name).")
@click.option("--archive", type=click.Path(file_okay=False), default=None,
              help="Also keep each finished cell's record and each teacher's labels in this folder, and resume "
                   "from them: commit it, and a fresh clone resumes the run (docs/results.md).")
@click.option("--json", "as_json", is_flag=True, help="Print results.json to stdout; progress off.")
@click.option("--quiet", "-q", is_flag=True, help="No progress, only the final line.")
@click.option("--no-report", is_flag=True, help="Skip plots and report.md.")
def run(matrix_file: str, dry_run: bool, fresh: bool, workers: int | None, executor: str | None,
        executor_option: tuple[str, ...], results_dir: str, cache_dir: str, run_name: str | None,
        archive: str | None, as_json: bool, quiet: bool, no_report: bool) -> None:
    """Run (or resume) every cell of MATRIX; finished cells are never recomputed.

    Exit 0 when every cell succeeded, 1 when some failed, 2 on a user error.
    """
    from rich.console import Console
    from rich.markup import escape

    from benchbench.executors.options import parse_cli_options
    from benchbench.pipeline.runner import Runner, RunOptions, prepare
    from benchbench.records.cache import Cache
    from benchbench.records.store import run_folder

    console = Console(stderr=True, quiet=quiet or as_json)
    warnings = Console(stderr=True, quiet=quiet)  # --json keeps stdout for the JSON: its warnings go to stderr
    opts = ({"workers": workers} if workers is not None else {}) | parse_cli_options(executor_option)
    json_out = sys.stdout
    # plugins print, in the driver too (building, fingerprinting, observing): with --json, stdout is the
    # JSON alone (workers send theirs to their cells' output.log)
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        matrix, digest = _load(matrix_file, executor, opts)
        run_folder(results_dir, run_name or matrix.name, "--run-name" if run_name else "name")  # before the slow part
        cache = Cache(cache_dir)
        with console.status("loading data and planning…"), _naming(matrix_file):
            prepared = prepare(matrix, matrix_file, digest, cache)
        _warn_all(warnings, cache.problems)
        if dry_run:
            _print_plan(prepared, Console(), None if fresh else run_folder(results_dir, run_name or matrix.name),
                        Path(archive) if archive else None)
            return
        options = RunOptions(Path(results_dir), Path(cache_dir), fresh, executor, opts, run_name,
                             Path(archive) if archive else None)
        progress = None
        if not (quiet or as_json):
            from benchbench.progress import progress_for

            progress = progress_for(console, matrix.answer.metric)
        runner = Runner(prepared, options, progress=progress)
        if progress is not None:
            with progress:
                summary = runner.run()
        else:
            summary = runner.run()
        if not no_report:
            try:
                from benchbench.analysis.report.build import build_report

                build_report(summary.run_dir)
            except ImportError:
                pass
            except Exception as exc:  # a plotting problem must not lose or fail a finished run
                _warn(warnings, f"report not written: {exc}")
        _warn_all(warnings, summary.observer_errors)
        for flag in (summary.results.get("generator_scores") or {}).get("flags", []):
            click.echo(f"LEAK: {flag}", err=True)  # even with --quiet/--json: a run trained on its test set
    if as_json:
        click.echo(json.dumps(summary.results, indent=2, default=str), file=json_out)
    elif not quiet:
        from benchbench.analysis.report.table import cells_table, failures, summary_table

        out = Console() if sys.stdout.isatty() else Console(width=160)  # logs and pipes get whole rows
        cells = summary.results["cells"]
        if len(cells) <= MAX_TABLE_ROWS:
            out.print(cells_table(cells, title=f"{matrix.name}: cells"))
        else:
            out.print(f"{len(cells)} cells: the per-cell table is in results.json / report.md")
        for line in failures(summary.results["cells"]):
            out.print(f"[red]failed[/red] {escape(line)}", soft_wrap=True)
        if len(matrix.seed) > 1 or len(cells) > MAX_TABLE_ROWS:
            out.print(summary_table(summary.results["summary"]))
        gen = summary.results["run"]["generation"]
        out.print(f"synthetic frames: {gen['generated']} generated, {gen['cached']} from cache")
    n = len(summary.results["cells"])
    msg = f"{n - len(summary.failed)}/{n} cells ok → {summary.run_dir / 'results.json'}"
    click.echo(msg if not summary.failed else f"{msg}; failed: {', '.join(summary.failed)}", err=True)
    sys.exit(1 if summary.failed else 0)


def _warn(console, text: str) -> None:
    from rich.markup import escape

    # whole, unwrapped lines: they name files, and a plugin's text must not be read as markup
    console.print(f"[yellow]warning: {escape(text)}[/yellow]", soft_wrap=True)


def _warn_all(console, lines: list[str], most: int = 20) -> None:
    """Every warning up to ``most``, then how many more (a damaged cache can mean thousands)."""
    for line in lines[:most]:
        _warn(console, line)
    if len(lines) > most:
        _warn(console, f"... and {len(lines) - most} more like these")


def _print_plan(p, console, run_dir: Path | None, archive: Path | None = None) -> None:
    """The cells (and which of them a run in ``run_dir``, or the ``archive``, has finished with the same key,
    so a resume keeps them), the generation plan and the folds."""
    from rich.markup import escape
    from rich.table import Table

    from benchbench.analysis.report.table import fmt_guidance
    from benchbench.pipeline.runner import cell_key
    from benchbench.plugins import get_plugins
    from benchbench.records.archive import Archive
    from benchbench.records.store import RunStore

    store = RunStore(run_dir) if run_dir is not None and run_dir.is_dir() else None
    kept = Archive(archive) if archive is not None and run_dir is not None else None
    keys = {c.id: cell_key(p, c, get_plugins()) for c in p.plan.cells} if store or kept else {}
    done = {i for i, k in keys.items() if (store and store.completed(i, k)) or (kept and kept.completed(i, k))}
    t = Table(title=f"{p.matrix.name}: {len(p.plan.cells)} cells")
    for col in ("cell", "detector", "generator", "guid.", "ratio", "seed", "real +/-", "synthetic +/-", "done"):
        t.add_column(col)
    for c in p.plan.cells:
        t.add_row(c.id, c.detector, c.generator or "real only", fmt_guidance(c.guidance), f"{c.ratio:g}",
                  str(c.seed), f"{c.n_real_pos}/{c.n_real_neg}", f"{c.n_syn_pos}/{c.n_syn_neg}",
                  "yes" if c.id in done else "")
    console.print(t)
    if keys:
        where = " and ".join(escape(str(d)) for d in (store and run_dir, kept and archive) if d)
        console.print(f"resume: {len(done)} of {len(p.plan.cells)} cells are finished in {where} "
                      f"with the same key and would be kept; {len(p.plan.cells) - len(done)} would run", soft_wrap=True)
    g = Table(title="generation plan (cells at smaller ratios take prefixes)")
    for col in ("task", "generator", "guid.", "seed", "crack", "sane"):
        g.add_column(col)
    for task in p.plan.gen_tasks:
        g.add_row(task.id, task.generator, fmt_guidance(task.guidance), str(task.seed), str(task.n_pos),
                  str(task.n_neg))
    console.print(g)
    for f in p.folds:
        where = "" if f.index is None else f" fold {f.index}:"
        console.print(f"data:{where} {escape(p.dataset_info['dataset'])} — train {len(f.train)} "
                      f"({len(f.train.positives())} crack / {len(f.train.negatives())} sane), test {len(f.test)} "
                      f"(groups {escape(', '.join(f.test_groups))})")
    console.print(f"frames to generate: {p.plan.planned_frames} (one per cell and ratio would be "
                  f"{p.plan.naive_frames})")
    for note in p.plan.notes:
        console.print(f"note: {escape(note)}")
