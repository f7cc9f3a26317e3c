"""Exporters: YOLO folder + data.yaml, COCO json, and the COCO dict the harness evaluates with."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchbench import api
from benchbench.api import Box, Frame, FrameSet, UserError
from benchbench.data.export import export_coco, export_yolo, to_coco_dict
from benchbench.data.flyd import FlydDataset


def _frames(tmp_path: Path) -> FrameSet:
    img = np.zeros((30, 40, 3), np.uint8)
    on_disk = tmp_path / "src" / "disk-Sample1.jpg"
    on_disk.parent.mkdir()
    Image.fromarray(img).save(on_disk)
    return FrameSet([
        Frame(None, 40, 30, "crack", (Box(10, 5, 4, 20), Box(30, 2, 3, 10)), "Sample1", "synthetic:physics",
              image=img, meta={"name": "mem-Sample1"}),
        Frame(None, 40, 30, "sane", (), "Sample2", image=img + 7, meta={"name": "mem-Sample2"}),
        Frame(on_disk, 40, 30, "crack", (Box(0, 0, 40, 30),), "Sample1"),
    ])


def test_to_coco_dict(tmp_path):
    d = to_coco_dict(_frames(tmp_path))
    assert [im["id"] for im in d["images"]] == [1, 2, 3]
    assert d["categories"] == [{"id": 1, "name": "crack", "supercategory": "defect"}]
    a = d["annotations"]
    assert [x["id"] for x in a] == [1, 2, 3] and [x["image_id"] for x in a] == [1, 1, 3]
    assert a[0]["bbox"] == [10.0, 5.0, 4.0, 20.0] and a[0]["area"] == 80.0
    assert all(x["iscrowd"] == 0 and x["category_id"] == 1 for x in a)
    assert d["images"][2]["file_name"] == "disk-Sample1.jpg"


def test_unknown_boxes_refused(tmp_path):
    fs = FrameSet([Frame(None, 8, 8, "crack", None, image=np.zeros((8, 8), np.uint8))])
    with pytest.raises(UserError, match="unknown boxes"):
        to_coco_dict(fs)
    with pytest.raises(UserError, match="unknown boxes"):
        export_yolo(fs, tmp_path / "y")


def test_export_yolo_round_trip(tmp_path):
    fs = _frames(tmp_path)
    yaml = api.export_yolo(fs[:2], tmp_path / "y", val=fs[2:])  # through the public api
    text = yaml.read_text()
    assert "train: images/train" in text and "val: images/val" in text and "0: crack" in text
    assert "path:" not in text  # Ultralytics resolves against the yaml's folder: the export can move
    assert (tmp_path / "y" / "labels" / "train" / "mem-Sample1.txt").read_text().splitlines() == [
        "0 0.300000 0.500000 0.100000 0.666667", "0 0.787500 0.233333 0.075000 0.333333"]
    assert (tmp_path / "y" / "labels" / "train" / "mem-Sample2.txt").read_text() == ""
    assert (tmp_path / "y" / "images" / "val" / "disk-Sample1.jpg").read_bytes() == fs[2].path.read_bytes()
    back = {f.stem: f for f in FlydDataset(tmp_path / "y", layout="yolo").load()}
    b = back["mem-Sample1"].boxes[0]
    assert np.allclose([b.x, b.y, b.w, b.h], [10, 5, 4, 20], atol=1e-3)  # 6 decimals of normalised coords
    assert back["mem-Sample2"].label == "sane"
    assert np.array_equal(back["mem-Sample2"].load(), fs[1].load())
    assert export_yolo(fs, tmp_path / "y2").read_text().count("images/train") == 2  # val falls back to train


def test_export_coco(tmp_path):
    fs = _frames(tmp_path)
    out = api.export_coco(fs, tmp_path / "c" / "ann.json", copy_images_to=str(tmp_path / "c" / "imgs"))
    d = json.loads(out.read_text())
    assert [im["file_name"] for im in d["images"]] == ["imgs/mem-Sample1.png", "imgs/mem-Sample2.png",
                                                        "imgs/disk-Sample1.jpg"]
    back = FlydDataset(out).load()
    assert [len(f.boxes) for f in back] == [2, 0, 1]
    # Without copying, file names point at the frames' own files.
    d2 = json.loads(export_coco(fs[2:], tmp_path / "c2.json").read_text())
    assert Path(d2["images"][0]["file_name"]) == fs[2].path.resolve()


def test_duplicate_names_get_suffixes(tmp_path):
    img = np.zeros((8, 8, 3), np.uint8)
    fs = FrameSet([Frame(None, 8, 8, "sane", (), image=img, meta={"name": "same"}) for _ in range(3)])
    export_yolo(fs, tmp_path / "y")
    assert sorted(p.name for p in (tmp_path / "y" / "images" / "train").iterdir()) == [
        "same-2.png", "same-3.png", "same.png"]



def test_names_differing_only_by_extension_get_their_own_stems(tmp_path):
    """A file frame x.jpg and an in-memory frame x (x.png): one YOLO label file and one mask each."""
    from benchbench.data.export import unique_names

    img = np.zeros((8, 8, 3), np.uint8)
    on_disk = tmp_path / "x.jpg"
    Image.fromarray(img).save(on_disk)
    fs = FrameSet([Frame(on_disk, 8, 8, "sane", ()), Frame(None, 8, 8, "sane", (), image=img, meta={"name": "x"}),
                   Frame(None, 8, 8, "sane", (), image=img, meta={"name": "X"})])
    assert unique_names(fs) == ["x.jpg", "x-2.png", "X-3.png"]
    export_yolo(fs, tmp_path / "y")
    assert len(list((tmp_path / "y" / "labels" / "train").iterdir())) == 3


def test_export_classes_writes_the_cracked_frames_masks(tmp_path):
    """Cracked frames with a mask get masks/<stem>.png (what `sd-base --crack-weight` reads); the rest none."""
    from benchbench.data.export import export_classes
    from benchbench.diffusion import training_mask

    mask = np.zeros((30, 40), bool)
    mask[5:25, 12] = True  # a one-pixel-wide crack
    mask_file = tmp_path / "m.png"
    Image.fromarray(mask.astype(np.uint8) * 255).save(mask_file)
    img = np.zeros((30, 40, 3), np.uint8)
    crack = (Box(12, 5, 1, 20),)
    frames = FrameSet([
        Frame(None, 40, 30, "crack", crack, "Sample1", image=img, meta={"name": "c1", "mask": str(mask_file)}),
        Frame(None, 40, 30, "crack", crack, "Sample1", image=img, meta={"name": "c2"}),
        Frame(None, 40, 30, "sane", (), "Sample2", image=img, meta={"name": "s1", "mask": str(mask_file)}),
    ])
    root = export_classes(frames, tmp_path / "out", {"split": "train"})
    assert sorted(p.name for p in (root / "masks").iterdir()) == ["c1.png"]
    records = {r["name"]: r for r in json.loads((root / "benchbench-export.json").read_text())["frames"]}
    assert records["c1.png"]["mask"] == "masks/c1.png" and "mask" not in records["c2.png"]
    assert np.array_equal(np.asarray(Image.open(root / "masks" / "c1.png")) > 127, mask)
    # at the training size (halved to 20x15, the centre 15 columns) the 1-px crack survives at column 6 - 2
    small = training_mask(root / "crack" / "c1.png", 15)
    assert small.shape == (1, 15, 15) and small[0, 3:12, 4].all() and small.sum() <= 2 * 11
    assert not training_mask(root / "crack" / "c2.png", 15).any()
    # a re-export of another side keeps no mask of the first
    export_classes(FrameSet(frames[1:]), root, {"split": "train"})
    assert not (root / "masks").exists()
