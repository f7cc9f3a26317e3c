"""The quality bar of generated sets: recognised cracked frames (mask, teacher, own boxes) and the checks."""

import numpy as np
from PIL import Image

from benchbench.analysis.genscore.quality import quality, real_recognised, recognised
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


def test_a_taught_set_drawn_around_masks_says_how_often_the_teacher_box_lies_on_the_mask(tmp_path):
    """The frames carry masks (ddpm-masked), but the row was taught: the teacher's share is its rule, and the
    teacher's boxes are checked against the masks (method.teacher.mask_agreement, the crack hit rule)."""
    from benchbench.method.teacher import mask_agreement

    mask = np.zeros((32, 32), np.uint8)
    mask[4:20, 10:13] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    frames = [frame(mask=str(tmp_path / "m.png"))] * 3
    on, off = Box(9, 4, 5, 16, score=0.9), Box(24, 24, 5, 5, score=0.9)
    assert mask_agreement(frames, [[on], [off], [off, on]], "ddpm-masked") == {"on_mask": 2, "with_mask": 3}
    cells = [{"cell": {"detector": "classic", "generator": "ddpm", "guidance": 2.0, "seed": 0},
              "teacher": {"kept": 3, "frames": 4, "on_mask": 2, "with_mask": 3}}]
    got = recognised(FrameSet(frames + [frame(mask=str(tmp_path / "m.png"))]), ENTRY, cells)
    assert (got["rule"], got["recognised"], got["frames"], got["on_mask"]) == ("teacher", 3, 4, 2)
    q = quality({"sets": [{"id": "ddpm__g2__s0", "plugin": "ddpm-masked", "recognised": got}]})
    assert quality_rows({"quality": q})[0][4] == "teacher (2 on the mask)"


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


def test_real_test_frames_are_read_by_the_teachers_own_threshold(tmp_path):
    import json

    gt = {"images": [{"id": i, "width": 32, "height": 32, "file_name": f"{i}.png"} for i in range(1, 6)],
          "annotations": [{"id": i, "image_id": i, "category_id": 1, "bbox": [1, 1, 3, 9], "area": 27, "iscrowd": 0}
                          for i in (1, 2, 3, 4)],
          "categories": [{"id": 1, "name": "crack"}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    dets = [{"image_id": i, "category_id": 1, "bbox": [1, 1, 3, 9], "score": s}
            for i, s in ((1, 0.95), (1, 0.2), (2, 0.9), (3, 0.5), (5, 0.99))]  # 4: nothing; 5: a sane frame
    (tmp_path / "dt.json").write_text(json.dumps(dets))

    def cell(gen, fold, **extra):
        return {"cell": {"detector": "classic", "seed": 0, "generator": gen}, "fold": fold, "status": "ok", **extra}

    real = cell(None, 1, artifacts={"predictions": "dt.json", "ground_truth": "gt.json"})
    labelled = cell("sd", 1, teacher={"threshold": 0.9, "kept": 1, "frames": 4})
    got = real_recognised([real, labelled, cell("sd", 0, teacher={"threshold": 0.1})], tmp_path, 1)
    # top score per cracked frame: 0.95, 0.9 pass; 0.5 and a frame without a box do not; the sane frame is not counted
    assert got == {"rule": "teacher", "value": 0.5, "recognised": 2, "frames": 4, "by_teacher": {"classic/s0": "2/4"}}
    assert real_recognised([real], tmp_path, 1) is None  # no teacher labelled in the fold: no threshold to read
    assert real_recognised([real, labelled], tmp_path, 0) is None  # another fold's cells

    q = quality({"reference": {"scores": {"cnn": {"crack": {"fd": 4.3, "coverage": 0.68}}}}, "sets": []}, got)
    assert q["real_test"]["recognised"] == 0.5
    assert quality_rows({"quality": q})[0] == ["real test frames (reference)", "4.3", "0.68", "0.5", "teacher", "–"]
