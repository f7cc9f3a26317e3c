import pytest

from benchbench.errors import UserError
from benchbench.method.matrix import parse_matrix
from benchbench.pipeline.planner import make_plan, synthetic_counts


def _matrix(**kw):
    base = {"name": "p", "seed": [0, 1], "data": {"dataset": "x"},
            "generators": [{"name": "sd"}, {"name": "ddpm"}], "detectors": [{"name": "yolo"}, {"name": "detr"}],
            "axes": {"synthetic_ratio": [0, 0.25, 0.5, 1.0], "guidance": [7, 8.5, 10]}}
    base.update(kw)
    return parse_matrix(base)


def test_baselines_shared_and_guidance_only_where_used():
    plan = make_plan(_matrix(), {"sd": True, "ddpm": False}, 40, 60)
    base = [c for c in plan.cells if c.baseline]
    assert len(base) == 2 * 2  # one per (detector, seed)
    sd = [c for c in plan.cells if c.generator == "sd"]
    ddpm = [c for c in plan.cells if c.generator == "ddpm"]
    assert len(sd) == 3 * 3 * 2 * 2  # ratios x guidance x detectors x seeds
    assert len(ddpm) == 3 * 2 * 2  # not multiplied by guidance
    assert all(c.guidance is None for c in ddpm)
    assert len({c.id for c in plan.cells}) == len(plan.cells)


def test_nested_generation_counts():
    m = _matrix(axes={"synthetic_ratio": [0, 0.5, 1, 2], "guidance": [7, 8.5, 10]})
    plan = make_plan(m, {"sd": True, "ddpm": True}, 40, 60)
    # one task per (generator, guidance, seed), sized for the largest ratio only
    assert len(plan.gen_tasks) == 2 * 3 * 2
    assert all(t.n == 200 for t in plan.gen_tasks)
    assert plan.planned_frames == 2 * 3 * 2 * 200
    assert plan.naive_frames == 2 * 3 * 2 * (50 + 100 + 200)


def test_counts_keep_balance_and_nest():
    prev = (0, 0)
    for r in [0.1 * k for k in range(31)]:
        sp, sn, rp, rn = synthetic_counts(r, 37, 63, "add", None)
        assert (sp, sn) >= prev and sp >= prev[0] and sn >= prev[1]
        assert sp + sn == round(r * 100)
        assert (rp, rn) == (37, 63)
        prev = (sp, sn)
    sp, sn, rp, rn = synthetic_counts(0.5, 40, 60, "replace", None)
    assert (sp + sn + rp + rn) == 100 and (sp, sn) == (20, 30)
    assert synthetic_counts(1.0, 40, 60, "add", 1.0)[:2] == (100, 0)


def test_tstr_mode_drops_every_real_frame_where_replace_keeps_some():
    # replace at ratio 1 with another class balance keeps 10 real sane frames: not train-on-synthetic
    assert synthetic_counts(1.0, 40, 60, "replace", 0.5) == (50, 50, 0, 10)
    assert synthetic_counts(1.0, 40, 60, "tstr", 0.5) == (50, 50, 0, 0)
    assert synthetic_counts(2.0, 40, 60, "tstr", None) == (80, 120, 0, 0)
    assert synthetic_counts(0.0, 40, 60, "tstr", None) == (0, 0, 40, 60)  # the real-only reference
    plan = make_plan(_matrix(mode="tstr"), {"sd": True, "ddpm": False}, 40, 60)
    assert all(c.n_real_pos == c.n_real_neg == 0 for c in plan.cells if not c.baseline)
    assert all((c.n_real_pos, c.n_real_neg) == (40, 60) for c in plan.cells if c.baseline)


def test_row_seeds_restrict_expensive_rows():
    m = _matrix(seed=[0, 1, 2], detectors=[{"name": "classic"}, {"name": "yolo", "seeds": [0]}],
                generators=[{"name": "physics"}, {"name": "sd", "seeds": [0, 1]}])
    plan = make_plan(m, {"physics": False, "sd": True}, 40, 60)
    yolo = [c for c in plan.cells if c.detector == "yolo"]
    assert {c.seed for c in yolo} == {0}
    assert {c.seed for c in plan.cells if c.generator == "sd"} == {0, 1}
    assert {t.seed for t in plan.gen_tasks if t.generator == "sd"} == {0, 1}
    # classic x physics runs every seed; yolo only seed 0 (1 baseline + physics 3 + sd 3x3)
    assert len([c for c in plan.cells if c.detector == "classic" and c.generator == "physics"]) == 9
    assert len(yolo) == 1 + 3 + 9


def test_row_seeds_must_be_matrix_seeds():
    import pytest

    from benchbench.api import UserError

    with pytest.raises(UserError, match="seeds \\[5\\] are not in the matrix") as exc:
        _matrix(detectors=[{"name": "yolo", "seeds": [5]}])
    assert exc.value.field == "detectors[0].seeds"


def test_detector_generators_restrict_its_cells_and_generation():
    m = _matrix(detectors=[{"name": "classic"}, {"name": "yolo", "generators": ["ddpm"]},
                           {"name": "detr", "generators": []}])
    plan = make_plan(m, {"sd": True, "ddpm": False}, 40, 60)
    by_det = {d: {c.generator for c in plan.cells if c.detector == d} for d in ("classic", "yolo", "detr")}
    assert by_det == {"classic": {None, "sd", "ddpm"}, "yolo": {None, "ddpm"}, "detr": {None}}
    # sd is still generated (classic uses it); detr keeps its real-only baseline per seed
    assert {t.generator for t in plan.gen_tasks} == {"sd", "ddpm"}
    assert len([c for c in plan.cells if c.detector == "detr"]) == 2
    only_yolo = _matrix(detectors=[{"name": "yolo", "generators": ["ddpm"]}])
    plan = make_plan(only_yolo, {"sd": True, "ddpm": False}, 40, 60)
    assert {t.generator for t in plan.gen_tasks} == {"ddpm"}  # no detector trains with sd: not generated
    assert plan.naive_frames == 2 * (25 + 50 + 100)  # 2 seeds x ratios 0.25, 0.5, 1 of 100 frames


def test_detector_generators_must_name_generator_rows():
    import pytest

    from benchbench.api import UserError

    with pytest.raises(UserError, match="generators \\['phys'\\] are not generator rows") as exc:
        _matrix(detectors=[{"name": "yolo", "generators": ["phys"]}])
    assert exc.value.field == "detectors[0].generators"


def test_detector_ratios_restrict_its_cells_and_size_generation():
    m = _matrix(seed=[0], detectors=[{"name": "classic", "ratios": [0, 0.25]}, {"name": "yolo", "ratios": [0, 0.5]}],
                generators=[{"name": "physics"}])
    plan = make_plan(m, {"physics": False}, 40, 60)
    assert sorted((c.detector, c.ratio) for c in plan.cells) == [
        ("classic", 0.0), ("classic", 0.25), ("yolo", 0.0), ("yolo", 0.5)]
    assert [t.n for t in plan.gen_tasks] == [50]  # sized for 0.5, the largest ratio any row runs
    assert plan.naive_frames == 25 + 50


def test_detector_ratios_must_be_on_the_axis():
    import pytest

    from benchbench.api import UserError

    with pytest.raises(UserError, match="ratios \\[2.0\\] are not in axes.synthetic_ratio") as exc:
        _matrix(detectors=[{"name": "yolo", "ratios": [0, 2]}])
    assert exc.value.field == "detectors[0].ratios"


def test_a_generator_row_labeler_decides_who_labels_that_row_also_across_folds():
    from benchbench.pipeline.planner import plan_folds

    m = _matrix(labeler="mask", split={"folds": 3},
                generators=[{"name": "sd"}, {"name": "ddpm", "labeler": "teacher"}])
    boxes = {"sd": False, "ddpm": False}
    for plan in (make_plan(m, {"sd": True, "ddpm": False}, 40, 60, gives_boxes=boxes),
                 plan_folds(m, {"sd": True, "ddpm": False}, [(0, 40, 60), (1, 38, 61), (2, 41, 59)],
                            gives_boxes=boxes)):
        sd = next(c for c in plan.cells if c.generator == "sd")
        ddpm = next(c for c in plan.cells if c.generator == "ddpm")
        assert plan.teacher_of(sd) is None  # mask: boxes from each frame's mask, no teacher (folds too)
        assert plan.teacher_of(ddpm) == ddpm.baseline_id
        assert any("mask labeler" in n and "of sd" in n for n in plan.notes)
    assert m.labeler_of("ddpm").kind == "teacher" and m.labeler_of("sd") is m.labeler_of(None) is m.labeler


def test_a_row_labeler_that_cannot_label_names_the_row():
    m = _matrix(generators=[{"name": "sd", "labeler": {"kind": "generator"}}, {"name": "ddpm"}])
    with pytest.raises(UserError) as err:
        make_plan(m, {"sd": True, "ddpm": False}, 40, 60, gives_boxes={"sd": False, "ddpm": False})
    assert err.value.field == "generators[0].labeler" and "gives no boxes" in str(err.value)
    with pytest.raises(UserError) as err:  # a teacher row needs its detectors' real-only cells
        make_plan(_matrix(labeler="mask", generators=[{"name": "sd", "labeler": "teacher"}],
                          detectors=[{"name": "yolo", "ratios": [0.5]}]), {"sd": True}, 40, 60,
                  gives_boxes={"sd": False})
    assert err.value.field == "detectors[0].ratios"
