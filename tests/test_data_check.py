"""`bench data check`: every class of problem is reported with its file and line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from benchbench.api import UserError
from benchbench.commands.data import data
from benchbench.data.check import check_dataset

FLYD_S_ZIP = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "flyd-s" / "FLYD-S-trainval.zip"


def _img(path: Path, w: int = 40, h: int = 30) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), 100, np.uint8)).save(path)


def _find(report, file_suffix: str, line: int | None, needle: str, severity: str = "error"):
    hits = [p for p in report.problems if p.file.endswith(file_suffix) and p.line == line
            and needle in p.message and p.severity == severity]
    assert hits, f"no {severity} {needle!r} at {file_suffix}:{line} in\n{report.format()}"
    return hits[0]


@pytest.fixture
def yolo(tmp_path: Path) -> Path:
    root = tmp_path / "yolo"
    _img(root / "images" / "a-Sample1.png")
    (root / "labels").mkdir(parents=True)
    (root / "labels" / "a-Sample1.txt").write_text(
        "0 0.5 0.5 0.1 0.4\n"  # fine
        "0 0.5 0.5 0.1\n"  # line 2: wrong field count
        "0 1.5 0.5 0.1 0.1\n"  # line 3: outside [0, 1]
        "3 0.5 0.5 0.1 0.1\n"  # line 4: unknown class
        "0 0.5 0.5 0.0 0.1\n"  # line 5: zero area
        "\n"
        "0 0.02 0.5 0.1 0.2\n"  # line 7: past the border (warning)
        "x 0.5 0.5 0.1 0.1\n"  # line 8: class not an integer
    )
    (root / "labels" / "orphan-Sample2.txt").write_text("0 0.5 0.5 0.1 0.1\n")  # label without image
    _img(root / "images" / "b-Sample2.png")  # image without label -> sane, warning
    (root / "images" / "broken-Sample3.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root


def test_yolo_problems(yolo: Path):
    rep = check_dataset(yolo)
    assert rep.layout == "yolo"
    lab = "labels/a-Sample1.txt"
    _find(rep, lab, 2, "expected 5 fields")
    _find(rep, lab, 3, "outside [0, 1]")
    _find(rep, lab, 4, "unknown class id 3")
    _find(rep, lab, 5, "zero area")
    _find(rep, lab, 7, "past the image border", "warning")
    _find(rep, lab, 8, "not an integer")
    _find(rep, "orphan-Sample2.txt", None, "label file without an image", "warning")
    _find(rep, "b-Sample2.png", None, "no label file", "warning")
    _find(rep, "broken-Sample3.jpg", None, "unreadable image")
    assert rep.counts == {"crack": 1, "sane": 1}
    assert rep.groups == {"Sample1": {"crack": 1, "sane": 0}, "Sample2": {"crack": 0, "sane": 1}}
    assert rep.sizes == {"40x30": 2}
    assert not rep.ok


def test_yolo_names_from_data_yaml(yolo: Path):
    (yolo / "data.yaml").write_text("train: images\nval: images\nnames:\n  0: crack\n  3: other\n")
    rep = check_dataset(yolo)
    assert not [p for p in rep.problems if "unknown class" in p.message]
    _find(rep, "data.yaml", None, "2 classes declared", "warning")


def _coco(tmp_path: Path, text: str) -> Path:
    root = tmp_path / "coco"
    _img(root / "images" / "f1-Sample1.png")
    (root / "annotations.json").write_text(text)
    return root


def test_coco_problems(tmp_path: Path):
    doc = {
        "images": [{"id": 1, "file_name": "f1-Sample1.png", "width": 40, "height": 30},
                   {"id": 2, "file_name": "gone-Sample2.png", "width": 40, "height": 30}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 5, 4, 20]},
                        {"id": 2, "image_id": 9, "category_id": 1, "bbox": [10, 5, 4, 20]},
                        {"id": 3, "image_id": 1, "category_id": 7, "bbox": [10, 5, 4, 20]},
                        {"id": 4, "image_id": 1, "category_id": 1, "bbox": [10, 5, 0, 20]},
                        {"id": 5, "image_id": 1, "category_id": 1, "bbox": [38, 5, 4, 20]}],
        "categories": [{"id": 1, "name": "crack"}],
    }
    root = _coco(tmp_path, json.dumps(doc, indent=1))
    rep = check_dataset(root)
    assert rep.layout == "coco"
    lines = (root / "annotations.json").read_text().splitlines()

    def line_of(snippet: str, nth: int = 0) -> int:
        return [i for i, t in enumerate(lines, start=1) if snippet in t][nth]

    # indent=1 puts each object's '{' on its own line: the reported line is that one.
    ann_starts = [i for i, t in enumerate(lines, start=1) if t.strip() == "{" and i > line_of('"annotations"')]
    _find(rep, "annotations.json", ann_starts[1], "missing image id 9")
    _find(rep, "annotations.json", ann_starts[2], "unknown category id 7")
    _find(rep, "annotations.json", ann_starts[3], "zero area")
    _find(rep, "annotations.json", ann_starts[4], "past the image border", "warning")
    img_starts = [i for i, t in enumerate(lines, start=1) if t.strip() == "{" and line_of('"images"') < i
                  < line_of('"annotations"')]
    _find(rep, "annotations.json", img_starts[1], "'gone-Sample2.png' not found")
    assert rep.counts["crack"] == 1


def test_coco_invalid_json_line(tmp_path: Path):
    root = _coco(tmp_path, '{\n "images": [\n  {"id": 1,, "file_name": "x"}\n ]\n}\n')
    rep = check_dataset(root, layout="coco")
    _find(rep, "annotations.json", 3, "invalid JSON")


def test_masks_problems(tmp_path: Path):
    d = tmp_path / "ds" / "train"
    _img(d / "images" / "ok-Sample1.jpg")
    m = np.zeros((30, 40), np.uint8)
    m[5:25, 20] = 255
    (d / "masks").mkdir(parents=True)
    Image.fromarray(m).save(d / "masks" / "ok-Sample1.png")
    _img(d / "images" / "nomask-Sample1.jpg")
    _img(d / "images" / "size-Sample2.jpg")
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(d / "masks" / "size-Sample2.png")
    Image.fromarray(m).save(d / "masks" / "lonely-Sample3.png")
    rep = check_dataset(tmp_path / "ds")
    assert rep.layout == "masks"
    _find(rep, "nomask-Sample1.jpg", None, "no mask")
    _find(rep, "size-Sample2.png", None, "mask is 10x10, image is 40x30")
    _find(rep, "lonely-Sample3.png", None, "mask without an image", "warning")
    assert rep.counts == {"crack": 1, "sane": 0} and rep.boxes == 1


def test_cli_exit_codes(yolo: Path, tmp_path: Path):
    runner = CliRunner()
    res = runner.invoke(data, ["check", str(yolo)])
    # The root CLI maps UserError to a one-line message and exit 2; the group itself raises it.
    assert isinstance(res.exception, UserError) and "error(s) in the dataset" in str(res.exception)
    assert "labels/a-Sample1.txt:2" in res.output
    clean = tmp_path / "clean"
    _img(clean / "images" / "c-Sample1.png")
    (clean / "labels").mkdir()
    (clean / "labels" / "c-Sample1.txt").write_text("0 0.5 0.5 0.1 0.5\n")
    _img(clean / "images" / "d-Sample1.png")  # no label: a warning only
    res = runner.invoke(data, ["check", str(clean), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["ok"] and out["counts"] == {"crack": 1, "sane": 1} and len(out["problems"]) == 1


def test_check_real_flyd_s_is_clean(tmp_path: Path):
    if not FLYD_S_ZIP.is_file():
        pytest.skip("FLYD-S archive not available")
    import zipfile

    with zipfile.ZipFile(FLYD_S_ZIP) as zf:
        zf.extractall(tmp_path)
    rep = check_dataset(tmp_path / "dataset_flyd")
    assert rep.ok and not rep.problems
    assert rep.counts == {"crack": 123, "sane": 200} and rep.boxes == 123


def test_coco_nan_boxes_boxes_outside_and_no_annotations(tmp_path: Path):
    doc = {"images": [{"id": 1, "file_name": "f1-Sample1.png", "width": 40, "height": 30}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 5, 4, 20]},
                           {"id": 2, "image_id": 1, "category_id": 1, "bbox": [10, 5, float("nan"), 20]},
                           {"id": 3, "image_id": 1, "category_id": 1, "bbox": [10, float("inf"), 4, 20]},
                           {"id": 4, "image_id": 1, "category_id": 1, "bbox": [50, 5, 4, 20]},
                           {"id": 5, "image_id": 1, "category_id": 1, "bbox": [36, 5, 8, 20]}],
           "categories": [{"id": 1, "name": "crack"}]}
    root = _coco(tmp_path, json.dumps(doc, indent=None).replace("}, {", "},\n{"))  # one annotation a line
    rep = check_dataset(root)
    line = {a["id"]: i for i, t in enumerate((root / "annotations.json").read_text().splitlines(), start=1)
            for a in doc["annotations"] if f'"id": {a["id"]}, "image_id"' in t}
    _find(rep, "annotations.json", line[2], "annotation 2: bbox must hold finite numbers")
    _find(rep, "annotations.json", line[3], "annotation 3: bbox must hold finite numbers")
    _find(rep, "annotations.json", line[4], "annotation 4: box lies outside the 40x30 image")
    _find(rep, "annotations.json", line[5], "clipped to it when loaded", "warning")
    assert rep.clipped == 1 and "(1 clipped to their image)" in rep.format()
    # what the loader does with the same file: refuse the non-finite box, clip the one past the border
    from benchbench.data import flyd

    with pytest.raises(UserError, match="annotation 2: bbox must hold finite numbers"):
        flyd.read_coco(root / "annotations.json", None)
    del doc["annotations"][1:4]
    (root / "annotations.json").write_text(json.dumps(doc))
    (frame,) = flyd.read_coco(root / "annotations.json", None)
    assert [(b.x, b.y, b.w, b.h) for b in frame.boxes] == [(10, 5, 4, 20), (36, 5, 4, 20)]
    del doc["annotations"]
    (root / "annotations.json").write_text(json.dumps(doc))
    _find(check_dataset(root), "annotations.json", 1, "no 'annotations' list")
    with pytest.raises(UserError, match="no 'annotations' list"):
        flyd.read_coco(root / "annotations.json", None)


@pytest.mark.parametrize("text, needle", [("- a\n- list\n", "data.yaml must be a mapping"),
                                          ("just a string\n", "data.yaml must be a mapping"),
                                          ("names: {crack: 0}\n", "class ids must be integers")])
def test_data_yaml_that_is_not_a_mapping(yolo: Path, text: str, needle: str):
    (yolo / "data.yaml").write_text(text)
    rep = check_dataset(yolo)
    assert any(p.file.endswith("data.yaml") and needle in p.message and p.severity == "error"
               for p in rep.problems), rep.format()
    res = CliRunner().invoke(data, ["check", str(yolo)])
    assert isinstance(res.exception, UserError)  # the root CLI makes it exit 2; never a traceback
