"""``report.md`` for a run folder: metadata, the seed-summary table, every cell, plots and sample grids.

Called by ``bench report RUN_DIR`` and at the end of ``bench run``. It only reads results.json and
writes ``plots/*.png`` and ``report.md``, so it can be re-run at any time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from benchbench.report.markdown import Markdown, cells_markdown, md_code, md_table, md_text, summary_markdown


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
    answer = write_answer(root, results)
    path = root / "report.md"
    atomic_write_text(path, render(results, summary, [p.relative_to(root) for p in plots],
                                   [p.relative_to(root) for p in samples], answer))
    return path


def write_answer(root: Path, results: dict[str, Any]) -> str | None:
    """``answer.json`` (did synthetic frames help, per detector × generator × budget) and its markdown;
    None when the run has no synthetic cell to compare."""
    from benchbench.report.answer import answer_markdown, answer_rows, verdict
    from benchbench.stats import RunData
    from benchbench.store import atomic_write_json

    metrics = ((results.get("run") or {}).get("matrix") or {}).get("metrics") or {}
    run = RunData.from_dir(root)
    n_boot = metrics.get("bootstrap")
    rows = answer_rows(run, n_boot=1000 if n_boot is None else int(n_boot))  # 0: no CIs, as for the cells
    if not rows:
        return None
    atomic_write_json(root / "answer.json", {"verdict": verdict(rows), "rows": [r.to_dict() for r in rows]})
    return answer_markdown(rows)


def render(results: dict[str, Any], summary: list[dict[str, Any]], plots: list[Path], samples: list[Path],
           answer: str | None = None) -> str:
    run, cells = results.get("run") or {}, results["cells"]
    data = run.get("data") or {}
    failed = [c for c in cells if c.get("status") != "ok"]
    out = [f"# {md_text(run.get('name', 'run'))}", ""]
    facts = [
        ("cells", f"{len(cells) - len(failed)}/{len(cells)} ok" + ("" if run.get("complete") else " (incomplete)")),
        ("seeds", md_text(", ".join(map(str, run.get("seeds") or [])))),
        ("data", md_text(f"{data.get('dataset', '?')}: {data.get('n_train', '?')} train / "
                         f"{data.get('n_test', '?')} test frames, test groups "
                         f"{', '.join(map(str, data.get('test_groups') or [])) or '?'}")),
        ("data manifest", md_code(data.get("manifest_hash", "?"))),
        ("matrix", Markdown(f"{md_text(run.get('matrix_file', '?'))} "
                            f"(sha256 {md_code(str(run.get('matrix_sha256', '?'))[:16])})")),
        ("benchbench", Markdown(f"{md_text(run.get('benchbench_version', '?'))}, "
                                f"commit {md_code(run.get('git_commit') or 'unknown')}")),
        ("plugins", md_text(", ".join(f"{k} {v}" for k, v in (run.get("plugins") or {}).items()))),
        ("started / finished", md_text(f"{run.get('started', '?')} / {run.get('finished') or 'not finished'}")),
    ]
    if answer:
        out += ["## The answer: did synthetic frames help on the held-out real frames?", "", answer]
    out += [md_table(["", ""], facts)]
    warnings = run.get("warnings") or []
    if warnings:
        out += ["", *[f"> **Warning:** {w}" for w in warnings], ""]
    out += ["## Results: mean ± std over seeds", "", summary_markdown(summary)]
    if plots:
        out += ["## Plots", "", "Means over seeds with 95% CI bands; the grey band is the real-only baseline.", ""]
        out += [_image(p) for p in plots]
    if samples:
        out += ["## Samples: real vs synthetic frames", ""]
        out += [_image(p) for p in samples]
    out += ["## Cells", "", "CIs: 95% grouped bootstrap over test frames (resampled by specimen).", "",
            cells_markdown(cells)]
    if failed:
        out += ["## Failed cells", ""]
        for c in failed:
            log = md_code(f"work/{c['id']}/error.txt")
            out.append(f"- {md_code(c['id'])}: {md_text(c.get('error') or 'unknown error')} (see {log})")
        out.append("")
    return "\n".join(out)


def _image(path: Path) -> str:
    # file names come from detector/generator names in results.json: quoted, they stay one link
    return f"![{md_text(path.stem)}]({quote(path.as_posix())})\n"
