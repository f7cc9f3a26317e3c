"""What a cell could not use or draw is said at the end of `bench run`, not only in results.json:
zero-area boxes from predict are dropped, a failed worst-frames gallery costs nothing else."""

from __future__ import annotations

import json

import benchbench_toys
import pytest
from click.testing import CliRunner

from benchbench.api import Box
from benchbench.cli import main
from benchbench.frames import Frame
from benchbench.method.evaluation import drop_degenerate


@pytest.fixture
def run(tmp_path, monkeypatch):
    """`bench run` of a one-seed toy matrix in the driver (in_process), so monkeypatches reach the cells."""
    monkeypatch.setenv("BENCHBENCH_PLUGIN_MODULES", "benchbench_toys")
    m = benchbench_toys.write_matrix(tmp_path, name="warn", seeds=[0], ratios=[0], bootstrap=20)

    def invoke():
        res = CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / "r"), "--cache-dir",
                                        str(tmp_path / "c"), "--no-report", "-x", "in_process=true"])
        return res, json.loads((tmp_path / "r" / "warn" / "results.json").read_text())["cells"]

    return invoke


def test_zero_area_boxes_are_dropped_with_a_warning(run, monkeypatch):
    predict = benchbench_toys.ToyDetector.predict
    monkeypatch.setattr(benchbench_toys.ToyDetector, "predict", lambda self, frames, ctx: [
        boxes + [Box(2.0, 3.0, 0.0, 5.0, 0.9)] for boxes in predict(self, frames, ctx)])
    res, cells = run()
    assert res.exit_code == 0, res.output
    (cell,) = cells
    assert cell["status"] == "ok" and cell["metrics"]["AP10"]["value"] > 0.5  # scored on the real boxes
    n_test = cell["counts"]["test"]
    assert cell["warnings"] == [f"{n_test} zero-area box(es) from predict on the test frames dropped "
                                "(w or h is 0: such a box matches no crack)"]
    assert f"{cell['id']}: {n_test} zero-area box(es)" in res.output


def test_a_failing_gallery_is_reported_at_the_end_of_the_run(run, monkeypatch):
    import benchbench.drawing.gallery as gallery

    def broken(*args):
        raise ValueError("x1 must be greater than or equal to x0")

    monkeypatch.setattr(gallery, "worst_frames_png", broken)
    res, (cell,) = run()
    assert res.exit_code == 0 and cell["status"] == "ok", res.output
    assert "worst_frames" not in cell["artifacts"]
    assert f"{cell['id']}: worst-frames gallery not drawn: ValueError: x1 must be greater" in res.output


def test_drop_degenerate_keeps_every_box_with_an_area():
    good, thin = Box(0, 0, 2, 3), Box(0, 0, 0.2, 3)
    kept, dropped = drop_degenerate([[good, Box(0, 0, 0, 3)], [], [Box(1, 1, 4, 0.0), thin]])
    assert kept == [[good], [], [thin]] and dropped == 2
    # negative or non-finite sizes are not this function's business: predictions_to_coco refuses them
    assert drop_degenerate([[Box(0, 0, -1, 3), Box(0, 0, float("nan"), 3)]])[1] == 0


def test_the_gallery_draws_boxes_narrower_than_a_tile_pixel():
    import numpy as np

    from benchbench.drawing.samples import frame_tile

    frame = Frame(None, 256, 256, "crack", (Box(10, 10, 4, 30),), image=np.zeros((256, 256), np.uint8))
    # scale 192/256: a 0.5 px wide box is under a tile pixel (PIL refused x2 < x1)
    tile = frame_tile(frame, 192, [Box(100, 20, 0.5, 40, 0.9), Box(50, 20, 0.0, 0.0, 0.8)])
    assert tile.size == (192, 192) and np.asarray(tile)[20:40, 75].any()
