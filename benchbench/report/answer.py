"""The answer a run gives: did synthetic frames help each detector on the held-out real frames?

Per detector × generator (× guidance) and per training budget, the synthetic ratio with the
largest mean ΔmAP50 against the real-only model of the same budget, with the hierarchical
paired bootstrap (seeds, then test specimens) of :func:`benchbench.stats.paired_bootstrap`.

Budgets: at **equal epochs** every cell trains the detector's epochs, so a larger ratio also
means more optimizer steps; at **equal steps** (matrix ``axes.budget: [epochs, steps]``) the
real-only model trains as many steps as the largest-ratio cell, so a gain there comes from the
synthetic frames, not from longer training.

The best ratio is picked on the same test frames that score it, so its p-value is multiplied
by the number of ratios tried (Bonferroni); a "yes" needs that adjusted p below alpha.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchbench.jsonable import finite_or_none
from benchbench.stats import CellRecord, Options, PairedResult, RunData, paired_stats

ANSWER_METRICS = ("mAP50", "AP10")
BUDGETS = {"epochs": "equal epochs", "steps": "equal steps"}


@dataclass
class AnswerRow:
    detector: str
    generator: str
    guidance: float | None
    budget: str
    ratio: float
    n_ratios: int
    seeds: list[int]
    stats: dict[str, PairedResult]
    note: str = ""

    def p_adjusted(self, metric: str) -> float:
        return min(1.0, self.stats[metric].p * self.n_ratios)

    def helped(self, alpha: float) -> bool:
        s = self.stats["mAP50"]
        return s.delta > 0 and s.ci[0] > 0 and self.p_adjusted("mAP50") < alpha

    def to_dict(self) -> dict[str, Any]:
        def stat(m: str, s: PairedResult) -> dict[str, Any]:
            return {"real_only": finite_or_none(s.a), "synthetic": finite_or_none(s.b),
                    "delta": finite_or_none(s.delta), "ci": [finite_or_none(s.ci[0]), finite_or_none(s.ci[1])],
                    "p": finite_or_none(s.p), "p_adjusted": finite_or_none(self.p_adjusted(m))}

        return {"detector": self.detector, "generator": self.generator, "guidance": self.guidance,
                "budget": self.budget, "ratio": self.ratio, "ratios_tried": self.n_ratios, "seeds": self.seeds,
                "note": self.note, **{m: stat(m, s) for m, s in self.stats.items()}}


def _budgets(run: RunData) -> list[str]:
    axes = (((run.results.get("run") or {}).get("matrix") or {}).get("axes") or {})
    return list(axes.get("budget") or ["epochs"])


def answer_rows(run: RunData, *, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> list[AnswerRow]:
    """One row per (detector, generator, guidance, budget) that has real-only and synthetic cells."""
    settings = run.by_setting()
    opts = Options(metrics=ANSWER_METRICS, alpha=alpha, n_boot=n_boot, seed=seed)
    detectors = list(dict.fromkeys(c.result["cell"]["detector"] for c in run.cells))
    # detectors that recorded optimizer steps train differently under the two budgets
    by_steps = {c.result["cell"]["detector"] for c in run.cells if (c.result.get("budget") or {}).get("steps")}
    rows = []
    scored: dict[tuple[tuple[str, ...], tuple[str, ...]], Any] = {}
    for det in detectors:
        for budget in _budgets(run):
            label = det if budget == "epochs" else f"{det}@{budget}"
            own_twins = any(s[0] == label for s in settings)
            if budget != "epochs" and not own_twins and det in by_steps:
                continue  # its equal-steps real-only cells have not run yet: no pair to show
            # A detector without equal-steps copies trains the same under both budgets (classic), and the
            # largest-ratio cell is its own equal-steps copy.
            real = settings.get((label if own_twins else det, None, None, 0.0))
            if real is None:
                continue
            note = "" if own_twins or budget == "epochs" else "same cells as at equal epochs"
            syn = sorted({(s[1], s[2]) for s in settings if s[0] in (det, label) and s[1] is not None},
                         key=lambda k: (k[0], -1 if k[1] is None else k[1]))
            for gen, guid in syn:
                ratios = sorted({s[3] for s in settings if s[0] in (det, label) and s[1:3] == (gen, guid)})
                best = None
                for r in ratios:
                    cells = settings.get((label, gen, guid, r)) or settings.get((det, gen, guid, r))
                    # a detector without equal-steps copies (classic) pairs the same cells under both budgets
                    pair = (tuple(r.result["id"] for r in real.values()), tuple(c.result["id"] for c in cells.values()))
                    if pair not in scored:
                        scored[pair] = _pair(real, cells, run.gt, opts)
                    result = scored[pair]
                    if result is not None and (best is None or result[1]["mAP50"].delta > best[2]["mAP50"].delta):
                        best = (r, result[0], result[1])
                if best is not None:
                    rows.append(AnswerRow(det, gen, guid, budget, best[0], len(ratios), best[1], best[2], note))
    return rows


def _pair(real: dict[int, CellRecord], syn: dict[int, CellRecord], gt: dict[str, Any] | None,
          opts: Options) -> tuple[list[int], dict[str, PairedResult]] | None:
    seeds = sorted(s for s in syn if s in real and real[s].ok and syn[s].ok)
    if not seeds:
        return None
    stats, _reason = paired_stats(real, syn, seeds, gt, opts)
    return (seeds, stats) if stats else None


def verdict(rows: list[AnswerRow], alpha: float = 0.05) -> str:
    """One sentence: did synthetic frames help, significantly, on the held-out real frames?

    A gain at equal epochs that the same row does not show at equal optimizer steps (its own
    equal-steps baseline, not the shared cells of a detector that does not train by steps) is
    reported as what it is: the extra steps, not the synthetic frames."""
    if not rows:
        return "No answer: the run has no pair of real-only and synthetic cells with saved predictions."
    steps = {(r.detector, r.generator, r.guidance): r for r in rows if r.budget == "steps" and not r.note}

    def steps_only(r: AnswerRow) -> AnswerRow | None:
        twin = steps.get((r.detector, r.generator, r.guidance))
        return twin if r.budget == "epochs" and twin is not None and not twin.helped(alpha) else None

    def name(r: AnswerRow) -> str:
        return f"{r.detector} + {r.generator} ({BUDGETS[r.budget]}, ratio {r.ratio:g}: {r.stats['mAP50'].delta:+.3f})"

    won = [r for r in rows if r.helped(alpha)]
    budget_effect = [(r, t) for r in won if (t := steps_only(r)) is not None]
    real = [r for r in won if steps_only(r) is None]
    hurt = [r for r in rows if r.stats["mAP50"].delta < 0 and r.stats["mAP50"].ci[1] < 0]
    budgets = sorted({r.budget for r in rows})
    head = "at " + " and ".join(BUDGETS[b] for b in budgets)
    if not real:
        text = (f"No: {head}, no detector × generator gained mAP50 significantly on the held-out real frames "
                f"(best ratio per row, Bonferroni-adjusted p < {alpha:g}).")
        if budget_effect:
            text = (f"No: no detector × generator gained mAP50 significantly on the held-out real frames at equal "
                    f"optimizer steps (best ratio per row, Bonferroni-adjusted p < {alpha:g}). ")
            text += "; ".join(f"{r.detector} + {r.generator} gained {r.stats['mAP50'].delta:+.3f} at equal epochs but "
                              f"{t.stats['mAP50'].delta:+.3f} (p = {t.p_adjusted('mAP50'):.2g}) at equal steps"
                              for r, t in budget_effect)
            text += ": the extra optimizer steps, not the synthetic frames."
    else:
        text = (f"Yes for {', '.join(map(name, real))}; {len(rows) - len(real)} other row(s) {head} "
                "show no significant gain.")
        if budget_effect:
            text += " At equal epochs only (not at equal steps): " + ", ".join(name(r) for r, _ in budget_effect) + "."
    if hurt:
        text += f" Lost mAP50 (95% CI below 0): {', '.join(map(name, hurt))}."
    if "steps" not in budgets:
        text += " Equal epochs only: a gain may come from the extra optimizer steps (run axes.budget: [epochs, steps])."
    return text


def answer_markdown(rows: list[AnswerRow], alpha: float = 0.05) -> str:
    from benchbench.report.markdown import md_table, md_text
    from benchbench.report.table import fmt_guidance

    def fmt(s: PairedResult, p_adj: float) -> str:
        return f"{s.delta:+.3f} [{s.ci[0]:+.3f}, {s.ci[1]:+.3f}] p={p_adj:.3g}"

    table = [[md_text(r.detector), md_text(r.generator), fmt_guidance(r.guidance), BUDGETS[r.budget],
              f"{r.ratio:g} (of {r.n_ratios})",
              len(r.seeds), f"{r.stats['mAP50'].a:.3f} → {r.stats['mAP50'].b:.3f}",
              fmt(r.stats["mAP50"], r.p_adjusted("mAP50")), fmt(r.stats["AP10"], r.p_adjusted("AP10")), md_text(r.note)]
             for r in rows]
    head = ["detector", "generator", "guidance", "budget", "best ratio", "seeds", "mAP50 real → synthetic",
            "Δ mAP50 [95% CI] p", "Δ AP@0.1 [95% CI] p", "note"]
    return (f"{md_text(verdict(rows, alpha))}\n\n{md_table(head, table)}\n"
            "Δ: synthetic minus real-only of the same budget, mean over seeds; CI and p: paired bootstrap over "
            "seeds and test specimens; p multiplied by the number of ratios tried (the best one is shown).\n")
