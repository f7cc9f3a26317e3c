"""Equal-epochs vs equal-steps training budgets: planning, the plugin contract and results.json."""

import json
from pathlib import Path

import benchbench_toys
import pytest
from click.testing import CliRunner

from benchbench.api import CellContext
from benchbench.cli import main
from benchbench.method.matrix import parse_matrix
from benchbench.pipeline.planner import make_plan


def _matrix(budget, ratios=(0, 0.5, 1), **kw):
    return parse_matrix({"name": "b", "seed": [0], "data": {"dataset": "x"}, "generators": [{"name": "g"}],
                         "detectors": [{"name": "yolo"}, {"name": "classic"}],
                         "axes": {"synthetic_ratio": list(ratios), "budget": budget}, **kw})


def test_steps_twins_train_as_long_as_the_largest_ratio():
    plan = make_plan(_matrix(["epochs", "steps"]), {"g": False}, 40, 60, {"yolo": True, "classic": False})
    steps = {c.ratio: c for c in plan.cells if c.budget == "steps"}
    # ratio 1 has 200 training frames; real only (100) and ratio 0.5 (150) get equal-step copies
    assert sorted(steps) == [0, 0.5] and all(c.detector == "yolo" for c in steps.values())
    assert {c.budget_frames for c in steps.values()} == {200}
    assert steps[0].id == "yolo__real__g-__r0__s0__bsteps" and not steps[0].baseline
    epochs = [c for c in plan.cells if c.budget == "epochs"]
    assert len(epochs) == 2 * 3  # both detectors, every ratio, unchanged
    assert any("classic" in n and "both budgets" in n for n in plan.notes)


def test_steps_only_keeps_the_teacher_baseline_and_the_largest_ratio():
    plan = make_plan(_matrix("steps"), {"g": False}, 40, 60, {"yolo": True, "classic": True})
    yolo = sorted((c.ratio, c.budget) for c in plan.cells if c.detector == "yolo")
    assert yolo == [(0, "epochs"), (0, "steps"), (0.5, "steps"), (1, "epochs")]


def test_replace_mode_needs_no_twins():
    m = _matrix(["epochs", "steps"], ratios=(0, 0.5, 1), mode="replace")
    plan = make_plan(m, {"g": False}, 40, 60, {"yolo": True, "classic": True})
    assert not [c for c in plan.cells if c.budget == "steps"]  # the training set never grows


def test_budget_must_be_known():
    from benchbench.errors import UserError

    with pytest.raises(UserError, match="axes.budget"):
        _matrix(["epochs", "minutes"])


@pytest.mark.parametrize("frames,n_train,want", [(None, 100, 30), (300, 100, 90), (200, 150, 40), (10, 1000, 1)])
def test_epochs_for(tmp_path, frames, n_train, want):
    ctx = CellContext("c", 0, tmp_path, tmp_path, budget_frames=frames)
    assert ctx.epochs_for(30, n_train) == want


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.setenv("BENCHBENCH_PLUGIN_MODULES", "benchbench_toys")


def test_run_records_budgets_and_reports_them(tmp_path, toys):
    m = benchbench_toys.write_matrix(tmp_path, name="budget", seeds=[0], ratios=[0, 1], bootstrap=20,
                                     extra="", det="")
    text = Path(m).read_text().replace("guidance: [7, 9]}", "guidance: [7], budget: [epochs, steps]}")
    Path(m).write_text(text)
    res = CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / "r"),
                                    "--cache-dir", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "r" / "budget" / "results.json").read_text())
    cells = {c["id"]: c for c in data["cells"]}
    real_e, real_s = cells["det__real__g-__r0__s0"], cells["det__real__g-__r0__s0__bsteps"]
    big = cells["det__tb__g-__r1__s0"]
    n_real = real_e["budget"]["train_frames"]
    assert real_e["budget"] == {"mode": "epochs", "reference_frames": None, "train_frames": n_real,
                                "epochs": 3, "steps": 3 * -(-n_real // 8), "images_seen": 3 * n_real}
    assert big["budget"]["train_frames"] == 2 * n_real and big["budget"]["epochs"] == 3
    assert real_s["budget"]["mode"] == "steps" and real_s["budget"]["reference_frames"] == 2 * n_real
    assert real_s["budget"]["epochs"] == 6 and real_s["budget"]["images_seen"] == big["budget"]["images_seen"]
    labels = {s["detector"] for s in data["summary"]}
    assert labels == {"det", "det@steps"}
    report = (tmp_path / "r" / "budget" / "report.md").read_text()
    assert "det@steps" in report
    answer = json.loads((tmp_path / "r" / "budget" / "answer.json").read_text())
    rows = {(r["generator"], r["guidance"], r["budget"]): r for r in answer["rows"]}
    assert set(rows) == {("tb", None, "epochs"), ("tb", None, "steps"), ("tg", 7, "epochs"), ("tg", 7, "steps")}
    # at equal steps the baseline is the longer-trained real-only model, at equal epochs the short one
    for budget, real in (("steps", real_s), ("epochs", real_e)):
        row = rows[("tb", None, budget)]
        assert row["by_specimen"] and row["n_specimens"] == len(row["by_specimen"])
        for specimen, v in row["by_specimen"].items():
            assert v["real_only"] == real["metrics"]["groups"][specimen]["AP10"]
            assert v["synthetic"] == big["metrics"]["groups"][specimen]["AP10"]
    # one toy test specimen with cracks: described, nothing called significant
    assert answer["verdict"].startswith("Descriptive only (1 specimen)")
    assert {r["verdict"] for r in answer["rows"]} == {"inconclusive"} and answer["analysis"]["metric"] == "AP10"
    plots = sorted(p.name for p in (tmp_path / "r" / "budget" / "plots").glob("mAP50_vs_ratio__*.png"))
    assert plots == ["mAP50_vs_ratio__det-steps.png", "mAP50_vs_ratio__det.png"], plots
    assert report.index("## The answer") < report.index("## Results")
    # a resumable run reported before its equal-steps baseline ran: no equal-steps row for that detector
    # (its equal-epochs baseline must not stand in for it)
    (tmp_path / "r" / "budget" / "cells" / "det__real__g-__r0__s0__bsteps.json").unlink()
    data["cells"] = [c for c in data["cells"] if c["id"] != "det__real__g-__r0__s0__bsteps"]
    (tmp_path / "r" / "budget" / "results.json").write_text(json.dumps(data))
    res = CliRunner().invoke(main, ["report", str(tmp_path / "r" / "budget")])
    assert res.exit_code == 0, res.output
    answer = json.loads((tmp_path / "r" / "budget" / "answer.json").read_text())
    assert {r["budget"] for r in answer["rows"]} == {"epochs"}
