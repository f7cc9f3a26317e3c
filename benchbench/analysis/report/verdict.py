"""The answer in words: the opening sentence generated from the row verdicts, and the answer table.

The sentence follows fixed rules (docs/results.md, "The opening sentence"), so the first line of a
report says no more than the verdicts of benchbench.analysis.report.answer allow.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchbench.analysis.inference import (
    EQUIVALENT,
    HELPED,
    HURT,
    INCONCLUSIVE,
    MIN_SPECIMENS,
    NOT_INFORMATIVE,
    PairedTest,
    descriptive_only,
)
from benchbench.analysis.report.answer import BUDGETS, SECONDARY, Answer
from benchbench.analysis.report.markdown import md_table, md_text
from benchbench.analysis.report.table import fmt_guidance


def opening(answer: Answer) -> str:
    """The answer's first sentence, from the row verdicts by the rules of docs/results.md."""
    rows, spec = answer.rows, answer.spec
    if not rows:
        return "No answer: the run has no pair of real-only and synthetic cells with per-specimen scores."
    informative = [r for r in rows if r.verdict != NOT_INFORMATIVE]
    tested = [r for r in informative if r.test.n >= MIN_SPECIMENS]
    skipped = len(rows) - len(informative)
    tail = f" {skipped} row(s) not informative." if skipped else ""
    if not informative:
        return ("Not informative: no row has a competent real-only baseline with cracked synthetic frames in "
                "training (see each row's reason).")
    if not tested:
        n = max(r.test.n for r in informative)
        deltas = [r.test.delta for r in informative if np.isfinite(r.test.delta)]
        spread = f"; Δ{spec.metric} per row ranges {min(deltas):+.3f} to {max(deltas):+.3f}" if deltas else ""
        return (f"{descriptive_only(n)[0].upper()}{descriptive_only(n)[1:]}: too few held-out test specimens "
                f"(at least {MIN_SPECIMENS} needed) to say whether synthetic frames help; nothing here is "
                f"significant{spread}.{tail}")
    by = {v: [r for r in tested if r.verdict == v] for v in (HELPED, HURT, EQUIVALENT, INCONCLUSIVE)}
    if by[HELPED] and not by[HURT]:
        lead = "Yes"
    elif by[HURT] and not by[HELPED]:
        lead = "No, they hurt"
    elif by[HURT]:
        lead = "Mixed"
    elif len(by[EQUIVALENT]) == len(tested):
        lead = f"No effect beyond ±{spec.margin:g}"
    else:
        lead = "Not shown"
    ns = sorted({r.test.n for r in tested})
    over = f"{ns[0]}" if len(ns) == 1 else f"{ns[0]}–{ns[-1]}"
    text = (f"{lead}: on {spec.metric} over {over} held-out specimens, synthetic frames helped in "
            f"{len(by[HELPED])}, hurt in {len(by[HURT])}, were equivalent within ±{spec.margin:g} in "
            f"{len(by[EQUIVALENT])} and were inconclusive in {len(by[INCONCLUSIVE])} of {len(tested)} tested row(s) "
            f"(Holm-adjusted, α = {spec.alpha:g}).")
    for v, word in ((HELPED, "Helped"), (HURT, "Hurt")):
        if by[v]:
            text += f" {word}: " + "; ".join(f"{r.name} {r.test.delta:+.3f}" for r in by[v]) + "."
    if len(tested) < len(informative):
        text += f" {len(informative) - len(tested)} row(s) descriptive only (fewer than {MIN_SPECIMENS} specimens)."
    text += tail
    effects = [i for i in answer.interactions if i.significant(spec.alpha)]
    if effects:
        text += " A budget effect (Δ at equal epochs − Δ at equal steps, Holm-adjusted): " + "; ".join(
            f"{i.epochs.arm} ratio {i.epochs.ratio:g} {i.test.delta:+.3f} "
            f"[{i.test.ci[0]:+.3f}, {i.test.ci[1]:+.3f}]" for i in effects) + "."
    if "steps" not in answer.budgets:
        text += " Equal epochs only: a gain may come from the extra optimizer steps (run axes.budget: [epochs, steps])."
    return text


def _fmt_test(t: PairedTest, p: float | None = None) -> str:
    if t.n < 2:
        return f"{t.delta:+.3f}" if np.isfinite(t.delta) else "–"
    pv = t.p if p is None else p
    return f"{t.delta:+.3f} [{t.ci[0]:+.3f}, {t.ci[1]:+.3f}]" + (f" p={pv:.2g}" if np.isfinite(pv) else "")


def _fmt_arms(real: float | None, synthetic: float | None) -> str:
    return "–" if real is None or synthetic is None else f"{real:.3f} → {synthetic:.3f}"


def _fmt_teacher(t: dict[str, Any] | None) -> str:
    if not t:
        return "–"
    lo, hi = t["crack"]
    return (f"{lo}" if lo == hi else f"{lo}–{hi}") + (f" of {t['crack_planned']}" if t["crack_planned"] else "")


def answer_markdown(answer: Answer) -> str:
    spec = answer.spec
    secondary = [m for m in SECONDARY if any(m in r.secondary for r in answer.rows)]
    head = ["detector", "generator", "guidance", "budget", "ratio", "seeds", "specimens",
            "cracked synthetic frames in training", f"{spec.metric} real → synthetic",
            f"Δ {spec.metric} [95% CI] p (Holm)", "TOST p (Holm)", "verdict", "Δ by specimen",
            *(f"Δ {m} [95% CI] p (unadjusted)" for m in secondary), "note"]
    table = []
    for r in answer.rows:
        d = r.to_dict(spec.metric)
        by = ", ".join(f"{k} {v['delta']:+.3f}" for k, v in d["by_specimen"].items())
        table.append([md_text(r.detector), md_text(r.generator), fmt_guidance(r.guidance), BUDGETS[r.budget],
                      f"{r.ratio:g}", len(r.seeds), r.test.n, _fmt_teacher(r.teacher),
                      _fmt_arms(d["real_only"], d["synthetic"]), _fmt_test(r.test, r.p_holm),
                      f"{r.p_tost_holm:.2g}" if np.isfinite(r.p_tost_holm) else "–",
                      md_text(f"{r.verdict}: {r.reason}"), md_text(by),
                      *(_fmt_test(r.secondary[m][2]) if m in r.secondary else "–" for m in secondary),
                      md_text(r.note)])
    floor = md_text(answer.floor_note)
    declared = ("fixed before the run: results.json run.matrix.answer" if answer.fixed_before_run
                else "today's defaults: this run's results.json predates the answer block")
    out = (f"{md_text(opening(answer))}\n\n{md_table(head, table)}\n"
           f"Primary metric {spec.metric}, margin ±{spec.margin:g}, α = {spec.alpha:g} ({declared}); floor: {floor}. "
           "Δ: synthetic minus real-only of the same budget; each specimen's Δ averages its seeds, and the test is a "
           "paired t across specimens (CI unadjusted, p Holm-adjusted over every tested row). Secondary metrics: "
           "unadjusted, for reading only. Fewer than "
           f"{MIN_SPECIMENS} specimens: descriptive only. See docs/results.md.\n")
    if answer.interactions:
        rows = [[md_text(i.epochs.detector), md_text(i.epochs.generator), fmt_guidance(i.epochs.guidance),
                 f"{i.epochs.ratio:g}", i.test.n, _fmt_test(i.test, i.p_holm),
                 "yes" if i.significant(spec.alpha) else "no"] for i in answer.interactions]
        out += "\n" + md_table(["detector", "generator", "guidance", "ratio", "specimens",
                                 f"Δ{spec.metric} equal epochs − equal steps [95% CI] p (Holm)", "budget effect"],
                                rows) + "\n"
    return out
