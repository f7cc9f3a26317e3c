"""The answer engine (benchbench.analysis.report.answer) on cell records: specimens from folds or from a plain
split, the declared analysis, the five verdicts, the interaction test and the opening sentence."""

import numpy as np
import pytest

from benchbench.analysis.report.answer import build_answer
from benchbench.analysis.report.verdict import answer_markdown, opening
from benchbench.errors import UserError
from benchbench.method.matrix import parse_matrix

SPECIMENS = [f"S{i}" for i in range(6)]


def _cell(det, gen, ratio, seed, values, *, budget="epochs", fold=None, syn=None, planned=40, status="ok"):
    """A cell record whose per-specimen slices hold ``values`` ({specimen: AP10}); mAP50 is half of it."""
    tag = f"__f{fold}" if fold is not None else ""
    rec = {"id": f"{det}__{gen or 'real'}__r{ratio}__s{seed}__{budget}{tag}", "status": status,
           "cell": {"detector": det, "generator": gen, "guidance": None, "ratio": ratio, "seed": seed,
                    "budget": budget},
           "budget": {"mode": budget, "steps": 100},
           "metrics": {"groups": {s: {"AP10": v, "mAP50": v / 2} for s, v in values.items()}}}
    if gen:
        rec["counts"] = {"synthetic_pos_planned": planned, "synthetic_pos": planned, "synthetic_neg": planned}
        if syn is not None:
            rec["synthetic_in_training"] = {"crack": syn, "sane": planned}
    if fold is not None:
        rec |= {"fold": fold, "test_groups": sorted(values)}
    return rec


def _arms(det, effect, *, folds=3, seeds=(0, 1, 2), base=0.6, budget="epochs", gen="physics", rng=None, **kw):
    """Real-only and synthetic cells over six specimens, each the test specimen of one fold."""
    rng = rng or np.random.default_rng(0)
    chunks = np.array_split(SPECIMENS, folds) if folds else [SPECIMENS]
    cells = []
    for f, chunk in enumerate(chunks):
        for seed in seeds:
            real = {s: base + 0.01 * rng.normal() for s in chunk}
            cells.append(_cell(det, None, 0.0, seed, real, budget=budget, fold=f if folds else None))
            shifted = {s: v + effect(s) for s, v in real.items()}
            cells.append(_cell(det, gen, 1.0, seed, shifted, budget=budget, fold=f if folds else None, **kw))
    return cells


def _synthetic_only(cells):
    """Another generator's arm beside a first one: its real-only cells are the first arm's."""
    return [c for c in cells if c["cell"]["generator"]]


def _steps_baseline(cells, gain, rng=None):
    """Equal-steps real-only twins of the real-only cells: ``gain`` better (the extra steps), plus noise."""
    rng = rng or np.random.default_rng(4)
    return [_cell(c["cell"]["detector"], None, 0.0, c["cell"]["seed"],
                  {s: v["AP10"] + gain + 0.004 * rng.normal() for s, v in c["metrics"]["groups"].items()},
                  budget="steps", fold=c.get("fold")) for c in cells if not c["cell"]["generator"]]


def _matrix(**answer):
    m = {"name": "a", "data": {"dataset": "x"}, "detectors": [{"name": "yolo"}, {"name": "classic"}],
         "generators": [{"name": "physics"}], "axes": {"synthetic_ratio": [0, 1]}}
    if answer:
        m["answer"] = answer
    return parse_matrix(m).model_dump(mode="json")


def _gain(size):
    return lambda s: size + 0.005 * (int(s[1:]) - 2.5)


def test_folds_give_one_value_per_specimen_and_a_plain_split_the_same_answer():
    folded = build_answer(_arms("yolo", _gain(0.1)), _matrix(floor=None))
    plain = build_answer(_arms("yolo", _gain(0.1), folds=0), _matrix(floor=None))
    for ans in (folded, plain):
        (row,) = ans.rows
        assert row.test.n == 6 and row.seeds == [0, 1, 2] and row.verdict == "helped"
        assert row.p_holm < 0.05 and row.test.ci[0] > 0
    assert folded.rows[0].test.delta == pytest.approx(plain.rows[0].test.delta)
    d = folded.to_dict()
    assert d["rows"][0]["n_specimens"] == 6 and sorted(d["rows"][0]["by_specimen"]) == SPECIMENS
    assert d["analysis"]["metric"] == "AP10" and d["analysis"]["fixed_before_run"]
    assert opening(folded).startswith("Yes: on AP10 over 6 held-out specimens, synthetic frames helped in 1")
    # secondary metrics are shown, unadjusted, but decide nothing
    assert d["rows"][0]["secondary_unadjusted"]["mAP50"]["delta"] == pytest.approx(row.test.delta / 2)


def test_a_specimen_tested_twice_for_one_seed_is_refused():
    cells = _arms("yolo", _gain(0.1))
    cells.append(_cell("yolo", None, 0.0, 0, {"S0": 0.5}, fold=1))
    with pytest.raises(UserError, match="specimen 'S0' is a test specimen of two cells"):
        build_answer(cells, _matrix())


def test_below_four_specimens_the_answer_is_descriptive_only():
    cells = [c for c in _arms("yolo", _gain(0.3), folds=0)]
    for c in cells:  # the study's design: two test specimens
        c["metrics"]["groups"] = {s: v for s, v in c["metrics"]["groups"].items() if s in ("S2", "S3")}
    ans = build_answer(cells, _matrix(floor=None))
    (row,) = ans.rows
    assert (row.verdict, row.reason, row.test.n) == ("inconclusive", "descriptive only (2 specimens)", 2)
    assert np.isnan(row.p_holm)
    assert opening(ans).startswith("Descriptive only (2 specimens): too few held-out test specimens")


def test_equivalent_and_inconclusive():
    rng = np.random.default_rng(1)
    flat = _arms("yolo", lambda s: 0.002 * (int(s[1:]) - 2.5), rng=rng)
    noisy = _synthetic_only(_arms("yolo", lambda s: 0.15 * (-1) ** int(s[1:]), gen="ddpm", rng=rng))
    ans = build_answer(flat + noisy, _matrix(floor=None, margin=0.05))
    verdicts = {r.generator: r for r in ans.rows}
    assert verdicts["physics"].verdict == "equivalent" and verdicts["physics"].p_tost_holm < 0.05
    assert verdicts["ddpm"].verdict == "inconclusive" and verdicts["ddpm"].test.mde > 0.05
    assert "would usually be missed" in verdicts["ddpm"].reason
    assert opening(ans).startswith("Not shown: on AP10 over 6 held-out specimens")


def test_holm_runs_over_every_tested_row():
    # two rows with the same modest gain: each alone p < 0.05, Holm over both decides
    second = _synthetic_only(_arms("yolo", _gain(0.02), gen="ddpm", rng=np.random.default_rng(0)))
    ans = build_answer(_arms("yolo", _gain(0.02)) + second, _matrix(floor=None))
    raw = sorted(r.test.p for r in ans.rows)
    assert sorted(r.p_holm for r in ans.rows) == pytest.approx([min(1, 2 * raw[0]), max(2 * raw[0], raw[1])])
    assert "Holm over the 2 tested row(s)" in ans.to_dict()["analysis"]["adjustment"]


def test_a_baseline_below_the_floor_is_not_informative_and_leaves_the_family():
    weak = _arms("yolo", _gain(0.2), base=0.3)
    classic = _arms("classic", _gain(0.0001), base=0.7)
    ans = build_answer(weak + classic, _matrix())  # default floor: 0.8 x classic's real-only AP10
    rows = {r.detector: r for r in ans.rows}
    assert rows["yolo"].verdict == "not-informative" and "below the competence floor 0.558" in rows["yolo"].reason
    assert rows["classic"].verdict != "not-informative"
    assert "0.8 × the real-only AP10 of 'classic'" in ans.floor_note
    assert np.isnan(rows["yolo"].p_holm) and "Holm over the 1 tested row" in ans.to_dict()["analysis"]["adjustment"]
    assert "1 row(s) not informative" in opening(ans)
    # an absolute floor, and none
    assert build_answer(weak, _matrix(floor=0.2)).rows[0].verdict == "helped"
    assert build_answer(weak, _matrix(floor=None)).rows[0].verdict == "helped"


def test_an_arm_whose_cracked_synthetic_frames_did_not_reach_training_is_not_informative():
    starved = _arms("yolo", _gain(0.2), syn=1, planned=82)
    (row,) = build_answer(starved, _matrix(floor=None)).rows
    assert row.verdict == "not-informative" and row.reason == "1 of 82 cracked synthetic frames reached training"
    assert row.teacher["crack"] == [1, 1] and row.teacher["sane"] == [82, 82]
    md = answer_markdown(build_answer(starved, _matrix(floor=None)))
    assert "| 1 of 82 |" in md and "Not informative" in md


def test_a_budget_effect_only_from_the_interaction_test():
    rng = np.random.default_rng(2)
    # a gain at equal epochs that the longer-trained real-only model matches at equal steps; the
    # largest-ratio cell has no steps copy: it is the equal-steps arm itself
    epochs = _arms("yolo", _gain(0.1), rng=rng)
    steps = _steps_baseline(epochs, 0.1, rng)
    ans = build_answer(epochs + steps, _matrix(floor=None) | {"axes": {"budget": ["epochs", "steps"]}})
    (inter,) = ans.interactions
    assert inter.test.n == 6 and inter.significant(0.05) and inter.test.ci[0] > 0
    assert "A budget effect (Δ at equal epochs − Δ at equal steps, Holm-adjusted): yolo + physics ratio 1" \
        in opening(ans)
    # no interaction row, no budget sentence, for a detector without its own equal-steps baseline
    only = build_answer(epochs, _matrix(floor=None) | {"axes": {"budget": ["epochs", "steps"]}})
    assert not only.interactions and "budget effect" not in opening(only)


def test_the_old_runs_without_an_answer_block_get_the_defaults_and_say_so():
    m = _matrix(floor=None)
    del m["answer"]
    ans = build_answer(_arms("yolo", _gain(0.1)), m)
    assert not ans.fixed_before_run and ans.spec.metric == "AP10"
    assert "predates the answer block" in answer_markdown(ans)


@pytest.mark.parametrize("answer,message", [
    ({"metric": "AP20"}, "answer.metric: AP20 needs IoU 0.2 in metrics.iou_thresholds"),
    ({"metric": "F1"}, "answer.metric: not a per-specimen metric"),
    ({"floor": "detr"}, "answer.floor.relative_to: 'detr' is not a detector row"),
    ({"floor": 1.5}, "answer.floor: an absolute floor is a score in [0, 1]"),
    ({"margin": 0}, "answer.margin"),
    ({"alpha": 0.7}, "answer.alpha"),
])
def test_the_answer_block_is_validated_with_one_line_errors(answer, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")) as err:
        _matrix(**answer)
    assert "\n" not in str(err.value)


def test_the_answer_block_defaults():
    m = parse_matrix({"name": "a", "data": {"dataset": "x"}, "detectors": [{"name": "d"}]})
    assert parse_matrix(m.model_dump(mode="json")) == m  # a recorded matrix parses again (rescore, resume)
    spec = m.answer
    assert (spec.metric, spec.margin, spec.alpha) == ("AP10", 0.05, 0.05)
    assert (spec.floor.relative_to, spec.floor.fraction) == ("classic", 0.8)
    assert parse_matrix({"name": "a", "data": {"dataset": "x"}, "detectors": [{"name": "d"}],
                         "answer": {"floor": "d", "metric": "hit_AP"}}).answer.floor.relative_to == "d"


def test_no_interaction_is_tested_for_an_arm_that_is_not_informative():
    epochs = _arms("yolo", _gain(0.1), syn=0, planned=82)
    both = _matrix(floor=None) | {"axes": {"budget": ["epochs", "steps"]}}
    ans = build_answer(epochs + _steps_baseline(epochs, 0.1), both)
    assert {r.verdict for r in ans.rows} == {"not-informative"} and not ans.interactions
    assert opening(ans).startswith("Not informative")


def test_cells_without_per_specimen_slices_say_so():
    cells = _arms("yolo", _gain(0.1), folds=0)
    for c in cells:  # a run scored before metrics.groups existed
        del c["metrics"]["groups"]
    ans = build_answer(cells, _matrix(floor=None))
    (row,) = ans.rows
    assert row.seeds == [0, 1, 2] and row.test.n == 0 and "bench rescore adds them" in row.reason
    assert opening(ans).startswith("Descriptive only (0 specimens)") and "| – |" in answer_markdown(ans)
