"""Fault injection, hostile inputs: what a plugin or a tampered run folder must not reach.

A detector never sees the ground truth it is scored on; `bench rescore` writes nowhere outside its
run folder and refuses inputs changed since the run; the leakage guard and the leaderboard refuse
or escape what they are handed.
"""

import json

import pytest
from test_faults import bench, cells_of, fault_plugins, matrix  # noqa: F401 - fault_plugins: autouse

from benchbench.frames import FrameSet
from benchbench.testing import check_detector, tiny_frames


# --------------------------------------------------------------------------- ground truth hidden
def test_predict_sees_no_ground_truth_in_test_val_or_teacher_frames(tmp_path):
    m = matrix(tmp_path, {"probe": "plugin: probedet"}, ratios=(0, 1),
               generators="{name: toygen, plugin: toygen}",
               extra="labeler: {kind: teacher, threshold: 0.0}")
    m.write_text(m.read_text().replace("test_fraction: 0.34", "test_fraction: 0.34, val_fraction: 0.2"))
    res = bench(tmp_path, m)
    assert res.exit_code == 0, res.output
    run_dir = tmp_path / "results" / "faults"
    seen = [json.loads(line) for f in sorted(run_dir.glob("work/*/seen.jsonl")) for line in f.read_text().splitlines()]
    cells = cells_of(run_dir)
    # each cell predicts test and validation frames; the baseline also labels the synthetic frames
    assert len(seen) == 2 * len(cells) + 1, seen
    assert all(s["n"] > 0 and s["pixels"] == s["n"] for s in seen)
    assert [(s["boxes"], s["labels"], s["sources"], s["meta"]) for s in seen] == [(0, ["None"], [""], 0)] * len(seen)
    assert {g for s in seen for g in s["groups"]} >= {"synthetic"}  # the group still travels
    # the evaluator kept the truth: the cells are scored against the real boxes
    assert all(c["status"] == "ok" and c["metrics"]["mAP50"]["value"] > 0 for c in cells.values())


class TruthReader:
    """A detector that 'predicts' the boxes it was handed: what check_detector must catch."""

    name, version = "truthreader", "1"

    def params(self) -> dict:
        return {}

    def fit(self, train, val, ctx) -> None:
        pass

    def predict(self, frames, ctx):
        return [list(f.boxes) for f in frames]


def test_the_kit_refuses_a_detector_that_reads_ground_truth_at_predict(tmp_path):
    with pytest.raises(AssertionError, match="predict after fit, on frames without ground truth.*TypeError"):
        check_detector(TruthReader, tmp_path=tmp_path, fresh_process=False)


def test_frames_without_truth_keep_pixels_size_path_and_group():
    frames = tiny_frames(n=4, size=32)
    blind = frames.without_truth()
    assert isinstance(blind, FrameSet) and len(blind) == len(frames)
    for f, b in zip(frames, blind, strict=True):
        assert (b.path, b.width, b.height, b.group) == (f.path, f.width, f.height, f.group)
        assert (b.boxes, b.label, b.meta, b.source) == (None, None, {}, "")
        assert (b.load() == f.load()).all()
    assert frames[0].meta and frames[0].label in ("crack", "sane")  # the original is untouched
