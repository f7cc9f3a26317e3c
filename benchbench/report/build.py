"""``report.md`` for a run folder: metadata, the seed-summary table, every cell, plots and sample grids.

Called by ``bench report RUN_DIR`` and at the end of ``bench run``. It only reads results.json and
writes ``plots/*.png`` and ``report.md``, so it can be re-run at any time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchbench.report.markdown import cells_markdown, md_table, summary_markdown


def build_report(run_dir: str | Path) -> Path:
    """Write plots into ``run_dir/plots`` and ``run_dir/report.md``; return the report's path."""
    from benchbench.report.plots import run_plots
    from benchbench.store import atomic_write_text, load_results
    from benchbench.summary import summarize

    root = Path(run_dir)
    results = load_results(root)
    cells = results["cells"]
    plots = run_plots(cells, root / "plots")
    samples = sorted((root / "samples").glob("*.png"))
    summary = results.get("summary") or summarize(cells)
    path = root / "report.md"
    atomic_write_text(path, render(results, summary, [p.relative_to(root) for p in plots],
                                   [p.relative_to(root) for p in samples]))
    return path


def render(results: dict[str, Any], summary: list[dict[str, Any]], plots: list[Path], samples: list[Path]) -> str:
    run, cells = results.get("run") or {}, results["cells"]
    data = run.get("data") or {}
    failed = [c for c in cells if c.get("status") != "ok"]
    out = [f"# {run.get('name', 'run')}", ""]
    facts = [
        ("cells", f"{len(cells) - len(failed)}/{len(cells)} ok" + ("" if run.get("complete") else " (incomplete)")),
        ("seeds", ", ".join(map(str, run.get("seeds") or []))),
        ("data", f"{data.get('dataset', '?')}: {data.get('n_train', '?')} train / {data.get('n_test', '?')} test "
                 f"frames, test groups {', '.join(data.get('test_groups') or []) or '?'}"),
        ("data manifest", f"`{data.get('manifest_hash', '?')}`"),
        ("matrix", f"{run.get('matrix_file', '?')} (sha256 `{str(run.get('matrix_sha256', '?'))[:16]}`)"),
        ("benchbench", f"{run.get('benchbench_version', '?')}, commit `{run.get('git_commit') or 'unknown'}`"),
        ("plugins", ", ".join(f"{k} {v}" for k, v in (run.get("plugins") or {}).items())),
        ("started / finished", f"{run.get('started', '?')} / {run.get('finished') or 'not finished'}"),
    ]
    out += [md_table(["", ""], facts), "## Results: mean ± std over seeds", "", summary_markdown(summary)]
    if plots:
        out += ["## Plots", "", "Means over seeds with 95% CI bands; the grey band is the real-only baseline.", ""]
        out += [f"![{p.stem}]({p.as_posix()})\n" for p in plots]
    if samples:
        out += ["## Samples: real vs synthetic frames", ""]
        out += [f"![{p.stem}]({p.as_posix()})\n" for p in samples]
    if results.get("generator_scores"):
        from benchbench.genscore.tables import report_section

        out.append(report_section(results["generator_scores"]))
    out += ["## Cells", "", "CIs: 95% grouped bootstrap over test frames (resampled by specimen).", "",
            cells_markdown(cells)]
    if failed:
        out += ["## Failed cells", ""]
        out += [f"- `{c['id']}`: {c.get('error') or 'unknown error'} (see `work/{c['id']}/error.txt`)"
                for c in failed]
        out.append("")
    return "\n".join(out)
