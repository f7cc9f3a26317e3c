"""The teacher labeler's rule (benchbench.method.teacher) and the per-cell count of synthetic frames in training."""

import json

import benchbench_toys
import numpy as np
import pytest
from click.testing import CliRunner

from benchbench.cli import main
from benchbench.frames import Box
from benchbench.method.matrix import LabelerSpec
from benchbench.method.teacher import teacher_labels, top_scores


def boxes(*scores):
    return [Box(float(i), 0.0, 3.0, 10.0, score=s) for i, s in enumerate(scores)]


# a competent but shy teacher: its real cracks score 0.1-0.3, below any fixed 0.5
REAL = {"crack": [0.10, 0.15, 0.20, 0.25, 0.30], "sane": [0.0, 0.05, 0.12, 0.02]}


def test_relative_rule_keeps_the_top_box_where_a_fixed_threshold_keeps_nothing():
    preds = [boxes(0.05, 0.2, 0.16), boxes(0.14), boxes(), boxes(0.31, 0.3)]
    chosen, info = teacher_labels(preds, rule="relative", threshold=0.5, quantile=0.25, reference=REAL)
    assert info["threshold"] == pytest.approx(np.quantile(REAL["crack"], 0.25)) == pytest.approx(0.15)
    assert [None if c is None else [b.score for b in c] for c in chosen] == [[0.2], None, None, [0.31]]
    assert info["kept"] == 2 and info["frames"] == 4 and info["reference_crack_frames"] == 5
    assert info["reference_sane_above"] == 0.0  # no real sane frame scores 0.15: no false label on real data
    fixed, fixed_info = teacher_labels(preds, rule="absolute", threshold=0.5, quantile=0.25, reference=REAL)
    assert fixed == [None] * 4 and fixed_info["kept"] == 0


def test_absolute_rule_keeps_every_box_above_the_threshold_and_zero_scores_never():
    chosen, info = teacher_labels([boxes(0.4, 0.35, 0.1), boxes(0.0)], rule="absolute", threshold=0.3,
                                  quantile=0.25, reference=REAL)
    assert [b.score for b in chosen[0]] == [0.4, 0.35] and chosen[1] is None and info["threshold"] == 0.3
    zero, _ = teacher_labels([boxes(0.0)], rule="relative", threshold=0.5, quantile=0.0,
                             reference={"crack": [0.0, 0.0]})
    assert zero == [None]  # a model scoring nothing on real cracks labels nothing


def test_relative_rule_without_reference_falls_back_to_the_threshold():
    chosen, info = teacher_labels([boxes(0.6), boxes(0.4)], rule="relative", threshold=0.5, quantile=0.25,
                                  reference={})
    assert info["threshold"] == 0.5 and chosen[1] is None and info["reference_sane_above"] is None


def test_top_scores_count_an_empty_frame_as_zero():
    assert top_scores([boxes(0.2, 0.7), []]) == [0.7, 0.0]


def test_labeler_spec_threshold_alone_means_the_absolute_rule():
    assert LabelerSpec().rule == "relative" and LabelerSpec().kind == "teacher"
    assert LabelerSpec.model_validate({"kind": "teacher", "threshold": 0.3}).rule == "absolute"
    old = LabelerSpec.model_validate({"threshold": 0.3})
    assert old.key() == {"kind": "teacher", "threshold": 0.3}  # cached cells of old matrices keep their key
    assert LabelerSpec.model_validate({"rule": "relative", "threshold": 0.3}).rule == "relative"
    assert "quantile" in LabelerSpec().key()


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.setenv("BENCHBENCH_PLUGIN_MODULES", "benchbench_toys")


def test_cells_record_synthetic_frames_in_training_and_the_teacher_rule(tmp_path, toys):
    m = benchbench_toys.write_matrix(tmp_path, name="teach", seeds=[0], ratios=[0, 1], bootstrap=0)
    m.write_text(m.read_text().replace("labeler: {kind: teacher, threshold: 0.3}",
                                       "labeler: {kind: teacher, quantile: 0.5}"))
    res = CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / "r"),
                                    "--cache-dir", str(tmp_path / "c"), "--no-report"])
    assert res.exit_code == 0, res.output
    cells = json.loads((tmp_path / "r" / "teach" / "results.json").read_text())["cells"]
    assert all(c["status"] == "ok" for c in cells), [c["error"] for c in cells]
    for c in cells:
        counts, used = c["counts"], c["synthetic_in_training"]
        if c["cell"]["generator"] is None:
            assert used == {"crack": 0, "sane": 0} and "teacher" not in c
            continue
        assert used == {"crack": counts["synthetic_pos"], "sane": counts["synthetic_neg"]}
        assert used["sane"] > 0
        if c["cell"]["generator"] == "tb":  # exact boxes: no teacher, every cracked frame reaches training
            assert "teacher" not in c and counts["synthetic_pos_dropped"] == 0
        else:
            t = c["teacher"]
            assert t["rule"] == "relative" and t["quantile"] == 0.5 and t["reference_crack_frames"] > 0
            assert t["kept"] == used["crack"] == counts["synthetic_pos_planned"] - counts["synthetic_pos_dropped"]


def test_relative_rule_keeps_the_same_frames_for_a_shyer_model_with_the_same_ranking():
    """A model whose scores are a monotone shrink of another's (same ranking, lower confidence) labels the
    same frames under the relative rule; a fixed threshold drops them."""
    rng = np.random.default_rng(0)
    preds = [boxes(*rng.uniform(0, 1, 3)) for _ in range(40)]
    ref = {"crack": list(rng.uniform(0.3, 1, 30)), "sane": list(rng.uniform(0, 0.6, 30))}

    def shy(x):
        return x ** 6

    shy_preds = [[Box(b.x, b.y, b.w, b.h, score=shy(b.score)) for b in p] for p in preds]
    shy_ref = {k: [shy(v) for v in vs] for k, vs in ref.items()}
    quantile = 6 / 29  # on the 7th of the 30 reference scores: np.quantile interpolates linearly, x^6 is not
    confident, _ = teacher_labels(preds, rule="relative", threshold=0.5, quantile=quantile, reference=ref)
    shy_kept, _ = teacher_labels(shy_preds, rule="relative", threshold=0.5, quantile=quantile, reference=shy_ref)
    assert [c is None for c in confident] == [c is None for c in shy_kept] and any(c for c in shy_kept)
    fixed, _ = teacher_labels(shy_preds, rule="absolute", threshold=0.5, quantile=quantile, reference=shy_ref)
    assert sum(c is not None for c in fixed) < sum(c is not None for c in shy_kept)
