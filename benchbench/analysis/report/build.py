"""``report.md`` and ``report.html`` for a run folder, from the same list of sections.

Called by ``bench report RUN_DIR`` and at the end of ``bench run``. It reads results.json (and the
cells' saved predictions for PR curves) and writes ``plots/*.png``, ``report.md`` (images linked)
and ``report.html`` (self-contained: images inline, no script, no external request), so it can be
re-run at any time.

The report is ``SECTIONS`` in order: each entry turns a ``Run`` into a section or None. A new
section is one more function in that list. It opens with the run's answer (answer.json, see
benchbench.analysis.report.answer), then the facts and any warning (e.g. a generator of unknown provenance).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchbench.analysis.genscore.tables import images, report_markdown
from benchbench.analysis.report.answer import build_answer
from benchbench.analysis.report.crack import cell_rows, error_means, group_rows, setting_label, size_rows
from benchbench.analysis.report.crack import galleries as found
from benchbench.analysis.report.crack import pr_curves as pr_curve_data  # build.pr_curves is the section
from benchbench.analysis.report.curves import curve_metrics, curve_plots, curve_rows
from benchbench.analysis.report.markdown import Markdown, cells_rows, md_code, md_text, summary_rows
from benchbench.analysis.report.plots import RATIO_METRICS, error_bars_plot, pr_curve_plot, run_plots, slug
from benchbench.analysis.report.sections import Image, Section, Table, to_html, to_markdown
from benchbench.analysis.report.verdict import answer_markdown, opening
from benchbench.records.schema import ANSWER_SCHEMA_VERSION
from benchbench.records.store import atomic_write_json, atomic_write_text, load_results, run_cells
from benchbench.records.summary import crack_names, metric_value, summarize


@dataclass
class Run:
    """What every section builder gets: the run folder, results.json, the seed summary, the plots."""

    root: Path
    results: dict[str, Any]
    summary: list[dict[str, Any]]
    plots: list[Path]  # relative to root

    @property
    def cells(self) -> list[dict[str, Any]]:
        return self.results["cells"]

    def plots_named(self, prefix: str) -> list[Path]:
        return [p for p in self.plots if p.name.startswith(prefix)]


def answer(run: Run) -> Section | None:
    md = write_answer(run.root, run.results)
    return Section("The answer: did synthetic frames help on held-out specimens?", [md]) if md else None


def write_answer(root: Path, results: dict[str, Any]) -> str | None:
    """``answer.json`` (did synthetic frames help, per detector × generator × budget × ratio, across the
    test specimens) and its markdown; None when the run has no synthetic cell to compare."""
    answer = build_answer(run_cells(root, results), (results.get("run") or {}).get("matrix") or {})
    if not answer.rows:
        return None
    atomic_write_json(root / "answer.json", {"schema_version": ANSWER_SCHEMA_VERSION, "verdict": opening(answer),
                                             **answer.to_dict()})
    return answer_markdown(answer)


def facts(run: Run) -> Section:
    info, cells = run.results.get("run") or {}, run.cells
    data = info.get("data") or {}
    groups = ", ".join(map(str, data.get("test_groups") or [])) or "?"
    failed = [c for c in cells if c.get("status") != "ok"]
    # Everything but the counts comes from results.json (plugins, file names): escaped.
    rows = [
        ("cells", f"{len(cells) - len(failed)}/{len(cells)} ok" + ("" if info.get("complete") else " (incomplete)")),
        ("seeds", md_text(", ".join(map(str, info.get("seeds") or [])))),
        ("data", md_text(f"{data.get('dataset', '?')}: {data.get('n_frames', '?')} frames in "
                         f"{len(info['folds'])} specimen folds" if info.get("folds") else
                         f"{data.get('dataset', '?')}: {data.get('n_train', '?')} train / {data.get('n_val', 0)} "
                         f"val / {data.get('n_test', '?')} test frames, test groups {groups}")),
        *([("folds", md_text("; ".join(f"f{f['fold']}: test {', '.join(f['test_groups'])} ({f['n_test']} frames)"
                                        for f in info["folds"])))] if info.get("folds") else []),
        ("data manifest", md_code(data.get("manifest_hash", "?"))),
        ("matrix", Markdown(f"{md_text(info.get('matrix_file', '?'))} "
                            f"(sha256 {md_code(str(info.get('matrix_sha256', '?'))[:16])})")),
        ("benchbench", Markdown(f"{md_text(info.get('benchbench_version', '?'))}, "
                                f"commit {md_code(info.get('git_commit') or 'unknown')}")),
        ("plugins", md_text(", ".join(f"{k} {v}" for k, v in (info.get("plugins") or {}).items()))),
        ("started / finished", md_text(f"{info.get('started', '?')} / {info.get('finished') or 'not finished'}")),
    ]
    blocks: list[Any] = [Table(["", ""], rows, left=2)]
    warnings = info.get("warnings") or []
    if warnings:
        blocks.append("\n".join(f"> **Warning:** {md_text(w)}" for w in warnings))
    return Section(None, blocks)


def seed_summary(run: Run) -> Section:
    return Section("Results: mean ± std over seeds", [Table(*summary_rows(run.summary), left=3)])


def crack_summary(run: Run) -> Section | None:
    names = crack_names(run.summary)
    if not names:
        return None
    return Section("Crack-scale results: mean ± std over seeds", [
        "AP per crack size range (`metrics.size_ranges`, by box short side unless set otherwise); `op_f1`: "
        "crack-level F1 at the operating threshold chosen on the validation frames; `hit_AP`: AP with the "
        "mask-hit rule in place of IoU, over all scores (no threshold); `pixel_recall`, "
        "`crack_recall`, `box_precision`: box-free scores from the crack masks (docs/results.md).",
        Table(*summary_rows(run.summary, names), left=3)])


def size_ranges(run: Run) -> Section | None:
    headers, rows = size_rows(run.cells)
    return Section("AP per crack size range", [Table(headers, rows, left=2)]) if rows else None


def errors(run: Run) -> Section | None:
    headers, rows = cell_rows(run.cells)
    if not rows:
        return None
    blocks: list[Any] = [
        "Where the AP50 goes (TIDE error types at IoU 0.5): `localisation`: boxes whose best IoU with a crack is "
        "0.1-0.5, the 1-px offsets that fail thin cracks; `duplicate`; `background`: boxes on nothing; `missed`: "
        "cracks nothing points at. ΔAP50: AP50 gained when only that type is fixed."]
    blocks += [Image(p, p.stem) for p in run.plots_named("errors__")]
    blocks += ["Per cell, at the operating point (threshold chosen on the validation frames, or the matrix's "
               "score_threshold without them):", Table(headers, rows)]
    return Section("Operating point, mask scores and error breakdown", blocks)


def specimens(run: Run) -> Section | None:
    headers, rows = group_rows(run.cells)
    return Section("Per test specimen (mean over seeds)", [Table(headers, rows, left=2)]) if rows else None


def plots(run: Run) -> Section | None:
    shown = [p for p in run.plots if not p.name.startswith(("errors__", "pr_curves__", "curve__"))]
    if not shown:
        return None
    return Section("Plots", ["Means over seeds with 95% CI bands; the grey band is the real-only baseline.",
                             *(Image(p, p.stem) for p in shown)])


def learning_curves(run: Run) -> Section | None:
    shown = run.plots_named("curve__")
    metrics = curve_metrics(run.cells, _answer_metric(run.results))
    if not shown or not metrics:
        return None
    return Section("Learning curves", [
        "The model of each cell scored on the test frames at the `metrics.curve` shares of its training "
        "(mean over seeds of each checkpoint; solid: equal epochs, dashed: equal steps). These scores are "
        "only reported: no checkpoint, stopping point or setting is chosen on them. A curve still rising at "
        "its end compares models that had not converged.",
        *(Image(p, p.stem) for p in shown), Table(*curve_rows(run.cells, metrics[0]), left=3)])


def _answer_metric(results: dict[str, Any]) -> str | None:
    """The primary metric the matrix's ``answer`` block declares, if any."""
    return ((((results.get("run") or {}).get("matrix") or {}).get("answer")) or {}).get("metric")


def pr_curves(run: Run) -> Section | None:
    shown = run.plots_named("pr_curves__")
    return Section("PR curves", [Image(p, p.stem) for p in shown]) if shown else None


def galleries(run: Run) -> Section | None:
    shown = [(cid, p) for cid, p in found(run.cells) if (run.root / p).is_file()]
    if not shown:
        return None
    blocks: list[Any] = ["The test frames with most errors, first seed of each setting: ground truth green (crack "
                         "mask tinted), boxes kept at the operating threshold red, the other boxes dark red."]
    for cid, p in shown:
        blocks += [md_code(cid), Image(p, f"worst test frames of {cid}")]
    return Section("Worst test frames", blocks)


def samples(run: Run) -> Section | None:
    found = sorted((run.root / "samples").glob("*.png"))
    if not found:
        return None
    return Section("Samples: real vs synthetic frames", [Image(p.relative_to(run.root), p.stem) for p in found])


def generator_scores(run: Run) -> Section | None:
    scores = run.results.get("generator_scores")
    if not scores:
        return None

    pictures = [Image(Path(path), caption) for path, caption in images(scores) if (run.root / path).is_file()]
    return Section("Generator scores", [report_markdown(scores, with_images=False), *pictures])


def cells(run: Run) -> Section:
    return Section("Cells", ["CIs: 95% grouped bootstrap over test frames (resampled by specimen).",
                             Table(*cells_rows(run.cells), left=3)])


def failures(run: Run) -> Section | None:
    failed = [c for c in run.cells if c.get("status") != "ok"]
    if not failed:
        return None
    lines = [f"- {md_code(c['id'])}: {md_text(c.get('error') or 'unknown error')} "
             f"(see {md_code('work/' + c['id'] + '/error.txt')})" for c in failed]
    return Section("Failed cells", ["\n".join(lines)])


SECTIONS: list[Callable[[Run], Section | None]] = [
    answer, facts, seed_summary, crack_summary, size_ranges, errors, specimens, plots, learning_curves, pr_curves,
    galleries, samples, generator_scores, cells, failures]


def build_report(run_dir: str | Path) -> Path:
    """Write plots into ``run_dir/plots``, ``report.md`` and ``report.html``; return report.md's path."""
    root = Path(run_dir)
    results = load_results(root)
    summary = results.get("summary") or summarize(results["cells"])

    pngs = _plots(root, results["cells"]) + curve_plots(results["cells"], root / "plots", _answer_metric(results))
    run = Run(root, results, summary, [p.relative_to(root) for p in pngs])
    sections = [s for s in (build(run) for build in SECTIONS) if s is not None]
    title = (results.get("run") or {}).get("name", "run")
    path = root / "report.md"
    atomic_write_text(path, to_markdown(title, sections))
    atomic_write_text(root / "report.html", to_html(title, sections, root))
    return path


def _plots(root: Path, cells: list[dict[str, Any]]) -> list[Path]:
    """Every figure: metric vs ratio, guidance heat maps, error bars per detector, PR curves per ratio."""
    ok = [c for c in cells if c.get("status") == "ok"]
    extra = [m for m in ("AP10", "hit_AP", "crack_recall") if any(metric_value(c, m) is not None for c in ok)]
    out = run_plots(cells, root / "plots", (*RATIO_METRICS, *extra))
    means = error_means(cells)
    for det in dict.fromkeys(s[0] for s in means):
        rows = [(setting_label(s).split(" · ", 1)[1], v) for s, v in means.items() if s[0] == det]
        out.append(error_bars_plot(rows, det, root / "plots" / f"errors__{slug(det)}.png"))
    ious = [((c.get("metrics") or {}).get("operating_point") or {}).get("iou") for c in ok]
    lowest = min((i for i in ious if i), default=0.5)
    for ratio, curves in sorted(pr_curve_data(root, cells, tuple(sorted({0.5, lowest}))).items()):
        out.append(pr_curve_plot(curves, ratio, root / "plots" / f"pr_curves__r{ratio:g}.png"))
    return [p for p in out if p is not None]
