"""The quality bar of generated sets: recognised cracked frames (mask, teacher, own boxes) and the checks."""

import numpy as np
from PIL import Image

from benchbench.analysis.genscore.quality import quality, recognised
from benchbench.analysis.genscore.tables import quality_rows
from benchbench.frames import Box, Frame, FrameSet

ENTRY = {"id": "ddpm__g2__s0", "generator": "ddpm", "guidance": 2.0, "seed": 0}


def frame(boxes=None, mask=None):
    return Frame(None, 32, 32, "crack", boxes, image=np.zeros((32, 32), np.uint8),
                 meta={"mask": mask} if mask else {})


def test_mask_rule_counts_frames_whose_mask_gives_a_box(tmp_path):
    full, empty = np.zeros((32, 32), np.uint8), np.zeros((32, 32), np.uint8)
    full[4:20, 10:13] = 255
    Image.fromarray(full).save(tmp_path / "full.png")
    Image.fromarray(empty).save(tmp_path / "empty.png")
    crack = FrameSet([frame(mask=str(tmp_path / "full.png"))] * 3 + [frame(mask=str(tmp_path / "empty.png"))])
    assert recognised(crack, ENTRY, []) == {"rule": "mask", "value": 0.75, "recognised": 3, "frames": 4}


def test_teacher_rule_reads_the_cells_that_trained_on_the_set():
    def cell(det, seed, kept, frames, guidance=2.0):
        return {"cell": {"detector": det, "generator": "ddpm", "guidance": guidance, "seed": seed},
                "teacher": {"kept": kept, "frames": frames}}

    cells = [cell("yolo", 0, 3, 10), cell("yolo", 0, 7, 20), cell("detr", 0, 1, 20), cell("yolo", 0, 20, 20, 7.5),
             {"cell": {"detector": "yolo", "generator": None, "guidance": None, "seed": 0}}]
    got = recognised(FrameSet([frame()] * 20), ENTRY, cells)
    assert got["rule"] == "teacher" and got["by_teacher"] == {"detr/s0": "1/20", "yolo/s0": "7/20"}
    assert got["value"] == 0.2  # (7 + 1) / 40: the largest labelled prefix per teacher, other guidance ignored
    assert recognised(FrameSet([frame()] * 2), ENTRY, []) is None  # no boxes, no mask, no teacher


def test_own_boxes_rule_and_the_bar():
    got = recognised(FrameSet([frame((Box(1, 1, 3, 9),)), frame(())]), ENTRY, [])
    assert got["rule"] == "boxes" and got["value"] == 0.5

    def s(id_, plugin, fd, cov, share):
        return {"id": id_, "plugin": plugin, "scores": {"cnn": {"crack": {"fd": fd, "coverage": cov}}},
                "recognised": {"value": share, "rule": "teacher"}}

    q = quality({"sets": [s("phys0", "physics", 10.0, 0.6, 1.0), s("phys1", "physics", 14.0, 0.5, 1.0),
                          s("ddpm", "ddpm", 11.0, 0.45, 0.6), s("bad", "ddpm", 60.0, 0.02, 0.0)]})
    assert q["fd_bar"] == 12.0
    rows = {r["id"]: r for r in q["sets"]}
    assert rows["ddpm"]["meets_bar"] and not rows["phys1"]["meets_bar"]  # physics itself above its mean
    assert rows["bad"]["checks"] == {"fd": False, "coverage": False, "recognised": False}
    assert quality_rows({"quality": q})[3] == ["bad", "60 ✗", "0.02 ✗", "0 ✗", "teacher", "no"]
    alone = quality({"sets": [s("ddpm", "ddpm", 11.0, 0.45, 0.6)]})
    assert alone["fd_bar"] is None and alone["sets"][0]["checks"]["fd"] is None
    assert not alone["sets"][0]["meets_bar"]  # an FD with nothing to compare it with passes no bar
