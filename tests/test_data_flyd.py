"""Loaders: round trips of the four layouts on simulator output, the real FLYD-S archive, errors."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchbench.api import Box, FrameSet, UserError
from benchbench.data.flyd import FlydDataset, detect_layout, mask_boxes, require_boxes
from benchbench.data.simulate import simulate_frames, write_dataset

FLYD_S_ZIP = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "flyd-s" / "FLYD-S-trainval.zip"


@pytest.fixture(scope="module")
def sim() -> FrameSet:
    return simulate_frames(24, seed=3, size=96, positive_fraction=0.5)


@pytest.fixture(scope="module")
def written(sim, tmp_path_factory) -> Path:
    return write_dataset(sim, tmp_path_factory.mktemp("sim"), "all")


@pytest.fixture(scope="module")
def flyd_s(tmp_path_factory) -> Path:
    if not FLYD_S_ZIP.is_file():
        pytest.skip(f"FLYD-S archive not available at {FLYD_S_ZIP}")
    dest = tmp_path_factory.mktemp("flyds")
    with zipfile.ZipFile(FLYD_S_ZIP) as zf:
        zf.extractall(dest)
    return dest / "dataset_flyd"


def _by_name(frames: FrameSet) -> dict:
    return {f.stem: f for f in frames}


def _close(a: tuple[Box, ...], b: tuple[Box, ...], tol: float) -> bool:
    return len(a) == len(b) and all(
        np.allclose([x.x, x.y, x.w, x.h], [y.x, y.y, y.w, y.h], atol=tol) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(("layout", "tol"), [("yolo", 1e-3), ("coco", 1e-9), ("masks", 1e-9)])
def test_round_trip_with_boxes(sim, written, layout, tol):
    # YOLO stores 6 decimals of normalised coordinates: 1e-6 * 96 px < 1e-3 px.
    ds = FlydDataset(written / layout)
    assert ds.layout == layout  # auto-detected
    loaded = _by_name(ds.load())
    assert len(loaded) == len(sim)
    for f in sim:
        g = loaded[f.stem]
        assert (g.label, g.width, g.height, g.group) == (f.label, f.width, f.height, f.group)
        assert _close(g.boxes, f.boxes, tol), (layout, f.stem, g.boxes, f.boxes)
        assert g.image is None and g.path is not None
        assert np.array_equal(g.load(), f.load())  # PNG: lossless


def test_round_trip_classes(sim, written):
    ds = FlydDataset(written / "classes")
    assert ds.layout == "classes"
    loaded = _by_name(ds.load())
    for f in sim:
        g = loaded[f.stem]
        assert g.label == f.label and g.group == f.group
        assert g.boxes == (None if f.label == "crack" else ())  # boxes of crack frames are unknown
    with pytest.raises(UserError, match="cannot train a detector"):
        require_boxes(ds.load())


def test_fingerprint_tracks_files(written, tmp_path):
    a = FlydDataset(written / "yolo").fingerprint()
    assert a == FlydDataset(written / "yolo").fingerprint()
    import shutil

    copy = shutil.copytree(written / "yolo", tmp_path / "yolo")
    assert FlydDataset(copy).fingerprint() == a  # content, not location
    label = next((copy / "labels").rglob("*.txt"))
    label.write_text(label.read_text() + "0 0.5 0.5 0.1 0.1\n")
    assert FlydDataset(copy).fingerprint() != a


def test_grey_and_varied_sizes(tmp_path):
    for i, (w, h) in enumerate([(80, 80), (206, 220), (150, 150)]):
        (tmp_path / "crack").mkdir(exist_ok=True)
        (tmp_path / "sane").mkdir(exist_ok=True)
        Image.fromarray(np.full((h, w), 90, np.uint8)).save(tmp_path / "sane" / f"x-Sample{i}_grey.png")
        Image.fromarray(np.full((h, w, 3), 90, np.uint8)).save(tmp_path / "crack" / f"x-Sample{i}_rgb.jpg")
    fs = FlydDataset(tmp_path, layout="classes").load()
    assert sorted((f.width, f.height) for f in fs) == sorted([(80, 80), (206, 220), (150, 150)] * 2)
    for f in fs:
        arr = f.load()
        assert arr.shape == (f.height, f.width, 3) and arr.dtype == np.uint8
    assert {f.group for f in fs} == {"Sample0", "Sample1", "Sample2"}


def test_group_regex_and_fallback(written):
    assert FlydDataset(written / "coco", group_regex=r"_(crack|sane)_").load().groups() == ["crack", "sane"]
    assert FlydDataset(written / "coco", group_regex=r"NoSuchThing\d").load().groups() == ["default"]
    with pytest.raises(UserError, match="invalid group regex"):
        FlydDataset(written / "coco", group_regex="(")


def test_bad_root_and_layout(tmp_path):
    with pytest.raises(UserError) as exc:
        FlydDataset(tmp_path / "missing")
    assert "missing" in str(exc.value) and "fix:" in str(exc.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="cannot tell the dataset layout"):
        FlydDataset(tmp_path / "empty")
    with pytest.raises(UserError, match="unknown layout"):
        FlydDataset(tmp_path, layout="voc")
    with pytest.raises(UserError, match="no images"):
        FlydDataset(tmp_path / "empty", layout="yolo").load()


def test_mask_merge_rule():
    m = np.zeros((60, 40), bool)
    m[5:20, 10] = True  # fragment 1
    m[23:40, 11] = True  # fragment 2: 3 px below -> same crack
    m[50:58, 30] = True  # 10 px away -> another crack
    m[2, 35] = True  # a stray pixel: annotation noise
    boxes = mask_boxes(m)
    assert [(b.x, b.y, b.w, b.h) for b in boxes] == [(10, 5, 2, 35), (30, 50, 1, 8)]
    assert mask_boxes(np.zeros((5, 5), bool)) == []


def test_flyd_s_masks(flyd_s):
    ds = FlydDataset(flyd_s)
    assert ds.layout == "masks"
    fs = ds.load()
    assert len(fs.positives()) == 123 and len(fs.negatives()) == 200
    assert fs.groups() == ["Sample1", "Sample2", "Sample3", "Sample4", "Sample5", "Sample8"]
    for f in fs:
        assert f.boxes is not None
        assert len(f.boxes) == (1 if f.label == "crack" else 0)
        for b in f.boxes:
            assert 0 <= b.x and 0 <= b.y and b.x + b.w <= f.width and b.y + b.h <= f.height
            assert b.h > b.w  # thin, near-vertical
        assert ("negative_scans" in f.path.name) == (f.label == "sane")
    val = FlydDataset(flyd_s, split=["val"])
    assert len(val.load()) == 49 and val.fingerprint() != ds.fingerprint()
    # The folder above dataset_flyd works too (two levels down).
    assert len(FlydDataset(flyd_s.parent, split="train").load()) == 274
    with pytest.raises(UserError, match="split folder"):
        FlydDataset(flyd_s, split=["test"]).load()


def test_detect_layout_file(written):
    assert detect_layout(written / "coco" / "annotations.json") == "coco"
    assert len(FlydDataset(written / "coco" / "annotations.json").load()) == 24
