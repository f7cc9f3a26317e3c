"""Learning curves: the checkpoint hook, the harness's scoring of it, the matrix switch, results and report."""

import json
from pathlib import Path

import benchbench_toys
import pytest
from click.testing import CliRunner

from benchbench.api import Box, CellContext
from benchbench.cli import main
from benchbench.errors import UserError
from benchbench.method.matrix import parse_matrix
from benchbench.testing import curve_context, tiny_frames


def _matrix(**metrics):
    return parse_matrix({"name": "c", "data": {"dataset": "x"}, "detectors": [{"name": "d"}], "metrics": metrics})


@pytest.mark.parametrize("curve,total,want", [((0.25, 0.5, 1.0), 80, [20, 40, 80]), ((0.25, 0.5, 1.0), 3, [1, 2, 3]),
                                              ((0.1, 1.0), 4, [1, 4]), ((0.5, 1.0), 0, []), ((), 80, [])])
def test_checkpoints_are_shares_of_the_training(tmp_path, curve, total, want):
    assert CellContext("c", 0, tmp_path, tmp_path, curve=curve).checkpoints(total) == want


def test_checkpoint_without_a_curve_calls_nothing(tmp_path):
    def predict(frames):
        raise AssertionError("predicted although no curve was asked for")

    CellContext("c", 0, tmp_path, tmp_path).checkpoint(predict, steps=10, epochs=1)


def test_matrix_curve_is_off_by_default_and_checked():
    assert _matrix().metrics.curve is None and "curve" not in _matrix().metrics.key()  # old cell keys unchanged
    assert _matrix(curve=True).metrics.curve == [0.25, 0.5, 1.0]
    assert _matrix(curve=[1, 0.5]).metrics.key()["curve"] == [0.5, 1.0]
    for bad, why in (([0, 1], r"\(0, 1\]"), ([1.5], r"\(0, 1\]"), ([], r"\(0, 1\]"), ([0.5, 0.5], "unique")):
        with pytest.raises(UserError, match=why) as err:
            _matrix(curve=bad)
        assert err.value.field == "metrics.curve" and "\n" not in str(err.value)


def test_the_harness_scores_checkpoints_on_frames_without_truth(tmp_path):
    test = tiny_frames(12, size=48, seed=3)
    ctx, points = curve_context(tmp_path / "cell", test, curve=(0.5, 1.0))
    seen = []

    def oracle(frames):  # the true boxes, from the test set the detector was never given
        seen.append(frames)
        return [[Box(b.x, b.y, b.w, b.h, score=0.9) for b in f.boxes] for f in test]

    assert ctx.checkpoints(6) == [3, 6]
    ctx.checkpoint(oracle, steps=60, epochs=6)
    ctx.checkpoint(lambda frames: [[] for _ in frames], steps=30, epochs=3)
    given = seen[0]
    assert len(given) == len(test) and all(f.boxes is None and f.meta == {} for f in given)
    assert len({f.label for f in given}) == 1 and [f.group for f in given] == [f.group for f in test]
    assert all((a.load() == b.load()).all() for a, b in zip(given, test, strict=True))
    assert [p["steps"] for p in points] == [30, 60] and points[1]["epochs"] == 6
    assert points[1]["mAP50"] == pytest.approx(1.0) and points[1]["AP10"] == pytest.approx(1.0)
    assert points[0]["mAP50"] == pytest.approx(0.0)  # no box at all
    assert set(points[1]["groups"]) == set(test.groups())
    saved = json.loads((tmp_path / "cell" / "curve" / "predictions_s60.json").read_text())
    assert len(saved) == sum(len(f.boxes) for f in test)
    with pytest.raises(ValueError, match="twice at 60 steps"):
        ctx.checkpoint(oracle, steps=60, epochs=6)
    with pytest.raises(ValueError, match="1 prediction lists for 12 frames"):
        ctx.checkpoint(lambda frames: [[]], steps=90, epochs=9)


def test_a_run_records_and_plots_the_curves(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHBENCH_PLUGIN_MODULES", "benchbench_toys")
    m = benchbench_toys.write_matrix(tmp_path, name="curves", seeds=[0], ratios=[0, 1], bootstrap=0)
    text = Path(m).read_text().replace("guidance: [7, 9]}", "guidance: [7], budget: [epochs, steps]}")
    Path(m).write_text(text.replace("metrics: {bootstrap: 0}", "metrics: {bootstrap: 0, curve: [0.5, 1.0]}"))
    res = CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / "r"),
                                    "--cache-dir", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    root = tmp_path / "r" / "curves"
    cells = json.loads((root / "results.json").read_text())["cells"]
    assert cells and all(c["status"] == "ok" for c in cells)
    for c in cells:
        curve = c["curve"]
        assert [p["epochs"] for p in curve] == [round(c["budget"]["epochs"] / 2), c["budget"]["epochs"]], c["id"]
        assert curve[-1]["steps"] == c["budget"]["steps"] and c["timings"]["curve"] > 0
        # the toy's last checkpoint is its final model: the harness scored the very same boxes
        assert curve[-1]["mAP50"] == pytest.approx(c["metrics"]["mAP50"]["value"]), c["id"]
        assert (root / curve[0]["predictions"]).is_file()
    steps = {c["id"]: c["curve"][-1]["steps"] for c in cells}
    assert steps["det__real__g-__r0__s0__bsteps"] == 2 * steps["det__real__g-__r0__s0"]  # up to its end
    assert (root / "plots" / "curve__det__tb.png").is_file() and (root / "plots" / "curve__det__tg.png").is_file()
    report = (root / "report.md").read_text()
    assert "## Learning curves" in report and "real only, equal steps" in report

    # `bench rescore` scores the curve again from the checkpoints' saved predictions
    cell = root / "cells" / "det__real__g-__r0__s0.json"
    record = json.loads(cell.read_text())
    recorded, record["curve"][0]["mAP50"] = record["curve"][0]["mAP50"], -5.0
    cell.write_text(json.dumps(record))
    res = CliRunner().invoke(main, ["rescore", str(root), "--cache-dir", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    assert json.loads(cell.read_text())["curve"][0]["mAP50"] == pytest.approx(recorded)
