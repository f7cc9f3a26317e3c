"""The answer a run gives: did synthetic frames help each detector on specimens it has never seen?

One row per detector × generator × guidance × budget × ratio. Each test specimen's score comes
from its per-specimen slice (``metrics.groups``) in the cell that tested it: with ``split: {folds: K}``
the cell of the fold where it is a test specimen, with a plain split the run's one test set. Seeds
are averaged within each specimen, the synthetic arm is paired with the real-only arm of the same
budget per specimen, and :mod:`benchbench.analysis.inference` tests across specimens on the matrix's declared
``answer.metric`` (Holm over every row); the other answer metrics are shown unadjusted.

Budgets: at **equal epochs** every cell trains the detector's epochs, so a larger ratio also means
more optimizer steps; at **equal steps** (``axes.budget: [epochs, steps]``) the real-only model trains
as many steps as the largest-ratio cell. A budget effect is only claimed from the test of their
interaction (Δ at equal epochs − Δ at equal steps, per specimen).

The rules that turn rows into verdicts (here) and verdicts into the opening sentence
(benchbench.analysis.report.verdict) are in docs/results.md ("answer.json"); they change together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from benchbench.analysis.inference import (
    INCONCLUSIVE,
    MIN_SPECIMENS,
    NOT_INFORMATIVE,
    PairedTest,
    classify,
    holm,
    minimum_detectable,
    paired_test,
    specimen_differences,
    specimen_means,
)
from benchbench.errors import UserError
from benchbench.jsonable import finite_or_none
from benchbench.method.matrix import AnswerSpec, FloorSpec
from benchbench.records.summary import MASK_METRICS, defined, setting_of

BUDGETS = {"epochs": "equal epochs", "steps": "equal steps"}
SECONDARY = ("mAP50", "AP10", "hit_AP")  # shown beside the declared metric, unadjusted
# An arm whose cells trained on fewer than this share of their planned cracked synthetic frames
# (a teacher that kept almost none) tests crack-free synthetic frames, not synthetic cracks.
MIN_SYNTHETIC_SHARE = 0.1

Values = dict[tuple[int, str], float]  # (seed, specimen) -> metric on that specimen's test frames


# --------------------------------------------------------------------------- reading cells
def group_value(slice_: dict[str, Any], metric: str) -> float | None:
    """A metric from one specimen's slice (evaluation._group_slices); None where undefined."""
    if metric in MASK_METRICS:
        v = (slice_.get("masks") or {}).get(metric)
    elif metric == "op_f1":
        v = (slice_.get("operating_point") or {}).get("f1")
    else:
        v = slice_.get(metric)
    return float(v) if defined(v) else None


def specimen_values(cells: Sequence[dict[str, Any]], metric: str) -> Values:
    """Every ok cell's per-specimen values of ``metric``, keyed by (seed, test specimen)."""
    out: Values = {}
    owner: dict[tuple[int, str], str] = {}
    for c in cells:
        if c.get("status") != "ok":
            continue
        tested = c.get("test_groups")  # with folds: this cell's test specimens
        for specimen, slice_ in ((c.get("metrics") or {}).get("groups") or {}).items():
            v = group_value(slice_, metric)
            if v is None or (tested is not None and specimen not in tested):
                continue
            key = (int(c["cell"]["seed"]), str(specimen))
            if key in out:
                raise UserError(f"specimen '{specimen}' is a test specimen of two cells of one setting and seed "
                                f"({owner[key]}, {c.get('id')})", field="cells",
                                fix="each specimen is tested once per seed: remove the stale cell file")
            out[key], owner[key] = v, str(c.get("id"))
    return out


def synthetic_counts(cells: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """How many cracked (and crack-free) synthetic frames reached training, over the arm's ok cells."""
    crack, sane, planned = [], [], []
    for c in cells:
        if c.get("status") != "ok":
            continue
        counts, used = c.get("counts") or {}, c.get("synthetic_in_training")
        # synthetic_in_training (teacher accounting) when recorded; else the runner's count after the teacher
        n = used.get("crack") if isinstance(used, dict) else counts.get("synthetic_pos")
        if n is None:
            continue
        crack.append(int(n))
        if isinstance(used, dict) and used.get("sane") is not None:
            sane.append(int(used["sane"]))
        elif counts.get("synthetic_neg") is not None:
            sane.append(int(counts["synthetic_neg"]))
        planned.append(int(counts.get("synthetic_pos_planned") or c["cell"].get("n_syn_pos") or 0))
    if not crack:
        return None
    most = max(planned)
    return {"crack": [min(crack), max(crack)], "sane": [min(sane), max(sane)] if sane else None,
            "crack_planned": most, "crack_share": float(np.mean(crack)) / most if most else None}


def paired_means(real: Values, synthetic: Values) -> tuple[dict[str, float], dict[str, float]]:
    """Each arm's per-specimen seed means over the (seed, specimen) pairs both arms have."""
    common = set(real) & set(synthetic)
    return (specimen_means({k: v for k, v in real.items() if k in common}),
            specimen_means({k: v for k, v in synthetic.items() if k in common}))


# --------------------------------------------------------------------------- rows
@dataclass
class AnswerRow:
    detector: str
    generator: str
    guidance: float | None
    budget: str
    ratio: float
    seeds: list[int]
    real: Values  # primary metric
    synthetic: Values
    test: PairedTest
    secondary: dict[str, tuple[Values, Values, PairedTest]] = field(default_factory=dict)
    teacher: dict[str, Any] | None = None
    note: str = ""
    verdict: str = INCONCLUSIVE
    reason: str = ""
    p_holm: float = float("nan")
    p_tost_holm: float = float("nan")

    @property
    def differences(self) -> dict[str, float]:
        return specimen_differences(self.real, self.synthetic)

    @property
    def real_only_mean(self) -> float:
        """Mean over the paired specimens of the real-only arm (seeds averaged within specimen)."""
        means = paired_means(self.real, self.synthetic)[0]
        return float(np.mean(list(means.values()))) if means else float("nan")

    @property
    def arm(self) -> str:
        guid = "" if self.guidance is None else f" g{self.guidance:g}"
        return f"{self.detector} + {self.generator}{guid}"

    @property
    def name(self) -> str:
        return f"{self.arm} ({BUDGETS[self.budget]}, ratio {self.ratio:g})"

    def to_dict(self, metric: str) -> dict[str, Any]:
        def stats(real: Values, syn: Values, t: PairedTest) -> dict[str, Any]:
            r, s = paired_means(real, syn)
            return {"real_only": finite_or_none(float(np.mean(list(r.values())))) if r else None,
                    "synthetic": finite_or_none(float(np.mean(list(s.values())))) if s else None,
                    "delta": finite_or_none(t.delta), "ci": [finite_or_none(t.ci[0]), finite_or_none(t.ci[1])],
                    "p": finite_or_none(t.p), "n_specimens": t.n,
                    "by_specimen": {k: {"real_only": r[k], "synthetic": s[k], "delta": s[k] - r[k]} for k in sorted(r)}}

        primary = stats(self.real, self.synthetic, self.test)
        return {"detector": self.detector, "generator": self.generator, "guidance": self.guidance,
                "budget": self.budget, "ratio": self.ratio, "seeds": self.seeds, "n_specimens": self.test.n,
                "verdict": self.verdict, "reason": self.reason, "metric": metric, **primary,
                "p_holm": finite_or_none(self.p_holm), "p_tost": finite_or_none(self.test.p_tost),
                "p_tost_holm": finite_or_none(self.p_tost_holm), "mde": finite_or_none(self.test.mde),
                "synthetic_in_training": self.teacher, "note": self.note,
                "secondary_unadjusted": {m: stats(*v) for m, v in self.secondary.items()}}


@dataclass
class Interaction:
    """Δ at equal epochs − Δ at equal steps of one detector × generator × guidance × ratio, per specimen."""

    epochs: AnswerRow
    steps: AnswerRow
    test: PairedTest
    p_holm: float = float("nan")

    def significant(self, alpha: float) -> bool:
        return self.test.n >= MIN_SPECIMENS and self.p_holm < alpha

    def to_dict(self, alpha: float) -> dict[str, Any]:
        r = self.epochs
        return {"detector": r.detector, "generator": r.generator, "guidance": r.guidance, "ratio": r.ratio,
                "n_specimens": self.test.n, "delta": finite_or_none(self.test.delta),
                "ci": [finite_or_none(self.test.ci[0]), finite_or_none(self.test.ci[1])],
                "p": finite_or_none(self.test.p), "p_holm": finite_or_none(self.p_holm),
                "budget_effect": self.significant(alpha)}


@dataclass
class Answer:
    spec: Any  # benchbench.method.matrix.AnswerSpec
    fixed_before_run: bool  # results.json recorded the spec when the run started (else today's defaults)
    rows: list[AnswerRow]
    interactions: list[Interaction]
    budgets: list[str]
    floor_note: str = ""

    def to_dict(self) -> dict[str, Any]:
        a = self.spec.alpha
        family = sum(np.isfinite(r.p_holm) for r in self.rows)
        return {"analysis": {
                    **self.spec.model_dump(mode="json"), "fixed_before_run": self.fixed_before_run,
                    "test": "paired t across test specimens (seeds averaged within each specimen), two-sided; "
                            "equivalence: TOST within ±margin",
                    "adjustment": f"Holm over the {family} tested row(s) of the primary metric; "
                                  "secondary metrics unadjusted",
                    "min_specimens": MIN_SPECIMENS, "floor_note": self.floor_note},
                "rows": [r.to_dict(self.spec.metric) for r in self.rows],
                "interactions": [i.to_dict(a) for i in self.interactions]}


def _arm_rows(cells: Sequence[dict[str, Any]], budgets: list[str]
              ) -> list[tuple[str, str, float | None, str, float, list[dict[str, Any]], list[dict[str, Any]], str]]:
    """(detector, generator, guidance, budget, ratio, real-only cells, synthetic cells, note) of every row."""
    settings: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for c in cells:
        settings.setdefault(setting_of(c), []).append(c)
    detectors = list(dict.fromkeys(c["cell"]["detector"] for c in cells))
    # detectors that recorded optimizer steps train differently under the two budgets
    by_steps = {c["cell"]["detector"] for c in cells if (c.get("budget") or {}).get("steps")}
    out = []
    for det in detectors:
        twins = any(s[0] == f"{det}@steps" for s in settings)
        for budget in budgets:
            label = det if budget == "epochs" else f"{det}@{budget}"
            note = ""
            if budget != "epochs" and not twins:
                if det in by_steps or "epochs" in budgets:
                    continue  # its equal-steps baseline has not run yet, or its epochs row is the same cells
                note = "trains the same under both budgets"
            elif budget == "epochs" and "steps" in budgets and not twins and det not in by_steps:
                note = "same cells serve both budgets"
            real = settings.get((label if twins or budget == "epochs" else det, None, None, 0.0))
            if not real:
                continue
            syn = sorted({s[1:] for s in settings if s[0] in (det, label) and s[1] is not None},
                         key=lambda k: (k[0], -1 if k[1] is None else k[1], k[2]))
            for gen, guid, ratio in syn:
                # the largest-ratio cell has no equal-steps copy: it is the equal-steps arm itself
                arm = settings.get((label, gen, guid, ratio)) or settings.get((det, gen, guid, ratio))
                if arm:
                    out.append((det, gen, guid, budget, ratio, real, arm, note))
    return out


def _floor(spec: Any, cells: Sequence[dict[str, Any]]) -> tuple[float | None, str]:
    """The competence floor on the real-only baseline, and how it was set."""
    floor = spec.floor
    if floor is None:
        return None, "no floor (answer.floor: null)"
    if not isinstance(floor, FloorSpec):
        return float(floor), f"absolute floor {float(floor):.3f}"
    ref_cells = [c for c in cells if c["cell"]["detector"] == floor.relative_to and not c["cell"].get("generator")
                 and c["cell"].get("budget", "epochs") == "epochs"]
    ref = specimen_means(specimen_values(ref_cells, spec.metric))
    if not ref:
        return None, f"no floor: no real-only '{floor.relative_to}' cells to set it from"
    level = float(np.mean(list(ref.values())))
    return floor.fraction * level, (f"{floor.fraction:g} × the real-only {spec.metric} of "
                                    f"'{floor.relative_to}' ({level:.3f}) = {floor.fraction * level:.3f}")


def _not_informative(row: AnswerRow, floor: float | None, metric: str) -> str | None:
    base = row.real_only_mean
    if floor is not None and np.isfinite(base) and base < floor:
        return f"real-only {metric} {base:.3f} is below the competence floor {floor:.3f}"
    t = row.teacher
    if t and t["crack_share"] is not None and t["crack_share"] < MIN_SYNTHETIC_SHARE:
        lo, hi = t["crack"]
        return (f"{lo}–{hi} of {t['crack_planned']} cracked synthetic frames reached training" if lo != hi
                else f"{lo} of {t['crack_planned']} cracked synthetic frames reached training")
    return None


def _ok_seeds(cells: Sequence[dict[str, Any]]) -> set[int]:
    return {int(c["cell"]["seed"]) for c in cells if c.get("status") == "ok"}


def build_answer(cells: Sequence[dict[str, Any]], matrix: dict[str, Any]) -> Answer:
    """The answer of a run from its cell records and its validated matrix (results.json ``run.matrix``)."""
    # A run records its validated matrix, answer block or its defaults included, when it starts; an older
    # run folder has none, and the current defaults stand in, chosen after its cells were seen.
    recorded = isinstance(matrix.get("answer"), dict)
    spec = AnswerSpec.model_validate(matrix["answer"]) if recorded else AnswerSpec()
    budgets = list(((matrix.get("axes") or {}).get("budget")) or ["epochs"])
    metric, alpha = spec.metric, spec.alpha
    rows = []
    for det, gen, guid, budget, ratio, real, syn, note in _arm_rows(cells, budgets):
        rv, sv = specimen_values(real, metric), specimen_values(syn, metric)
        seeds = sorted(_ok_seeds(real) & _ok_seeds(syn))
        secondary = {}
        for m in SECONDARY:
            if m != metric:
                a, b = specimen_values(real, m), specimen_values(syn, m)
                if set(a) & set(b):
                    secondary[m] = (a, b, paired_test(list(specimen_differences(a, b).values()), alpha=alpha))
        if seeds:
            test = paired_test(list(specimen_differences(rv, sv).values()), alpha=alpha, margin=spec.margin)
            rows.append(AnswerRow(det, gen, guid, budget, ratio, seeds, rv, sv, test, secondary,
                                  synthetic_counts(syn), note))
    floor, floor_note = _floor(spec, cells)
    reasons = [_not_informative(r, floor, metric) for r in rows]
    tested = [not why and r.test.n >= MIN_SPECIMENS for r, why in zip(rows, reasons, strict=True)]
    p_holm = holm([r.test.p if t else float("nan") for r, t in zip(rows, tested, strict=True)])
    p_tost = holm([r.test.p_tost if t else float("nan") for r, t in zip(rows, tested, strict=True)])
    # The MDE at Holm's first step (alpha over the family): what a row must show to be sure to count.
    family = max(1, sum(tested))
    for r, why, ph, pt in zip(rows, reasons, p_holm, p_tost, strict=True):
        r.p_holm, r.p_tost_holm = ph, pt
        r.test = replace(r.test, mde=minimum_detectable(r.test.n, r.test.sd, alpha / family))
        r.verdict, r.reason = classify(r.test, ph, pt, alpha, why)
        if r.test.n == 0 and r.verdict == INCONCLUSIVE:
            r.reason = (f"no per-specimen {metric} on both arms: cells scored before per-specimen slices "
                        "(bench rescore adds them), or no test specimen with a crack")
    return Answer(spec, recorded, rows, _interactions(rows, alpha), budgets, floor_note)


def _interactions(rows: list[AnswerRow], alpha: float) -> list[Interaction]:
    """Per detector × generator × guidance × ratio with its own equal-steps baseline: Δepochs − Δsteps
    (rows already classified: not-informative arms are left out)."""
    steps = {(r.detector, r.generator, r.guidance, r.ratio): r for r in rows if r.budget == "steps" and not r.note}
    out = []
    for r in rows:
        twin = steps.get((r.detector, r.generator, r.guidance, r.ratio)) if r.budget == "epochs" else None
        if twin is None or NOT_INFORMATIVE in (r.verdict, twin.verdict):
            continue  # an arm that cannot answer the question cannot answer how it depends on the budget
        de, ds = r.differences, twin.differences
        out.append(Interaction(r, twin, paired_test([de[s] - ds[s] for s in sorted(set(de) & set(ds))], alpha=alpha)))
    for i, p in zip(out, holm([i.test.p if i.test.n >= MIN_SPECIMENS else float("nan") for i in out]), strict=True):
        i.p_holm = p
    return out
