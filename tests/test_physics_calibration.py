"""The physics generator's calibration from a fold's training frames, frames drawn around training
masks, crack masks through the frame cache, and the mask labeler (boxes from masks, no teacher)."""

import json

import benchbench_toys
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from benchbench.builtins.physics import PhysicsGenerator
from benchbench.builtins.physics_calibration import crack_path
from benchbench.cli import main
from benchbench.data.simulate import frame_params
from benchbench.errors import UserError
from benchbench.frames import Box, Frame, FrameSet
from benchbench.pipeline.calibration import crop_size as final_size
from benchbench.protocols import GenerationRequest
from benchbench.records.cache import Cache


def real_frame(tmp_path, name, w, h, crack_x=None, rows=(20, 60), group="Sample1", source="real"):
    """A FLYD-S-like masks-layout frame: a 3 px vertical crack at column crack_x over ``rows``."""
    mask = np.zeros((h, w), np.uint8)
    boxes = ()
    if crack_x is not None:
        mask[rows[0]:rows[1], crack_x - 1:crack_x + 2] = 255
        boxes = (Box(float(crack_x - 1), float(rows[0]), 3.0, float(rows[1] - rows[0])),)
    Image.fromarray(mask).save(tmp_path / f"{name}.png")
    return Frame(tmp_path / f"{name}.png", w, h, "crack" if boxes else "sane", boxes, group, source,
                 meta={"mask": str(tmp_path / f"{name}.png")})


@pytest.fixture
def train(tmp_path):
    return FrameSet([real_frame(tmp_path, "a", 120, 120, 70), real_frame(tmp_path, "b", 206, 220, 90, (100, 130)),
                     real_frame(tmp_path, "c", 80, 80), real_frame(tmp_path, "d", 150, 150, 40, (60, 100), "Sample2"),
                     real_frame(tmp_path, "e", 64, 64, 30, source="synthetic:x")])  # not real: not read


def test_calibration_measures_only_the_real_training_frames(train):
    cal = PhysicsGenerator(cracks="train").calibrate(train)
    assert cal["crop_sizes"] == [80, 120, 150, 213] and cal["groups"] == ["Sample1", "Sample2"]
    assert cal["crack_heights"] == [30.0, 40.0, 40.0] and cal["frames"] == 4
    assert len(cal["crack_paths"]) == 3
    first = cal["crack_paths"][0]  # frame a: column 70 of 120 px, rows 20..59
    assert {x for x, _ in first} == {70.5 - 60} and first[0][1] == 20.5 - 60 and first[-1][1] == 59.5 - 60
    json.dumps(cal)
    assert "crack_paths" not in PhysicsGenerator().calibrate(train)
    assert "crop_sizes" not in PhysicsGenerator(size=150).calibrate(train)  # the user's sizes: none to resize to


def test_calibration_reads_a_simulated_dataset_s_training_frames(tmp_path):
    # the quickstart's dataset is `simulated`: its frames are the training frames too (an empty
    # calibration made `bench run examples/quickstart.yaml` refuse to start)
    frames = FrameSet([real_frame(tmp_path, "s", 128, 128, 60, source="simulated")])
    assert PhysicsGenerator().calibrate(frames)["crop_sizes"] == [128]


def test_crack_path_takes_the_largest_crack_and_skips_specks():
    mask = np.zeros((50, 40), bool)
    mask[5:30, 10] = True
    mask[40:43, 30] = True
    assert [p[0] for p in crack_path(mask)] == [10.5 - 20] * 13
    assert crack_path(mask[40:43]) is None and crack_path(np.zeros((9, 9), bool)) is None


def test_cracks_train_needs_masks_and_a_calibration(tmp_path):
    with pytest.raises(UserError, match="cracks"):
        PhysicsGenerator(cracks="copied")
    no_masks = FrameSet([Frame(None, 64, 64, "crack", (Box(1, 1, 3, 20),), "Sample1", image=np.zeros((64, 64)))])
    with pytest.raises(UserError, match="masks"):
        PhysicsGenerator(cracks="train").calibrate(no_masks)
    with pytest.raises(UserError, match="calibration"):
        PhysicsGenerator(cracks="train").generate(GenerationRequest("crack", 1))


def test_calibrated_frames_come_at_real_sizes_with_real_crack_heights(train):
    cal = PhysicsGenerator().calibrate(train)
    gen = PhysicsGenerator()
    req = GenerationRequest("crack", 12, seed=4, size=128, calibration=cal)
    frames = gen.generate(req)
    assert [f.width for f in frames] == [final_size(cal["crop_sizes"], 4, "crack", i) for i in range(12)]
    assert {f.width for f in frames} <= set(cal["crop_sizes"]) and all(f.width == f.height for f in frames)
    assert all(f.boxes[0].h <= max(cal["crack_heights"]) + 1 for f in frames)
    later = gen.generate(GenerationRequest("crack", 4, seed=4, size=128, start_index=8, calibration=cal))
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames[8:], later, strict=True))
    for f in frames:  # every frame carries its crack mask, whose box is the frame's box
        ys, xs = np.nonzero(f.meta["mask"])
        b = f.boxes[0]
        assert (xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()) == (b.x, b.y, b.w, b.h)


def test_crack_lengths_map_the_same_draw_and_keep_the_scene_drawn_before_the_crack():
    plain = frame_params(7, "crack", 3, 150)
    cal = frame_params(7, "crack", 3, 150, lengths=(20.0, 20.0, 21.0))
    assert all(getattr(plain, k) == getattr(cal, k) for k in ("specimen", "spot", "edge_top", "edge_tilt",
                                                              "band_height", "width", "height"))
    assert 19 <= cal.crack[-1][1] - cal.crack[0][1] <= 21.5


def test_frames_drawn_around_training_cracks(train):
    cal = PhysicsGenerator(cracks="train").calibrate(train)
    frames = PhysicsGenerator(cracks="train", size=150).generate(
        GenerationRequest("crack", 6, seed=1, calibration=cal))
    heights = sorted({round(f.boxes[0].h) for f in frames})
    assert set(heights) <= {30, 40, 41}  # one of the three training cracks (mirrored, shifted): its length
    assert all(f.boxes[0].w <= 4 for f in frames)  # straight real cracks stay 3 px wide lines


def test_cracks_from_larger_crops_are_not_squeezed_into_a_small_one():
    near = ((-10.0, -20.0), (-10.0, 10.0))  # fits an 80 px crop
    far = ((70.0, -20.0), (70.0, 10.0))  # 70 px right of the centre: only in a large crop
    for i in range(12):
        p = frame_params(3, "crack", i, 80, paths=(near, far))
        assert {round(abs(x - 40)) for x, _ in p.crack} <= {6, 7, 8, 9, 10, 11, 12, 13, 14}  # near, +- 4 px
    assert any(max(x for x, _ in frame_params(3, "crack", i, 220, paths=(near, far)).crack) > 150 for i in range(12))


def test_cache_keeps_a_generated_frames_mask(tmp_path):
    cache = Cache(tmp_path)
    frame = PhysicsGenerator().generate(GenerationRequest("crack", 1, size=64))[0]
    stored = cache.put_frame("k" * 64, frame)
    back = cache.get_frame("k" * 64)
    for f in (stored, back):
        assert np.array_equal(np.asarray(Image.open(f.meta["mask"])) > 0, frame.meta["mask"])
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(back.meta["mask"])  # damaged: recomputed, said so
    assert cache.get_frame("k" * 64) is None and "mask" in cache.problems[-1]


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.setenv("BENCHBENCH_PLUGIN_MODULES", "benchbench_toys")


def test_mask_labeler_trains_with_mask_boxes_and_no_teacher(tmp_path, toys):
    m = benchbench_toys.write_matrix(tmp_path, name="masks", seeds=[0], ratios=[0.5], bootstrap=0)
    text = m.read_text().replace("labeler: {kind: teacher, threshold: 0.3}", "labeler: mask")
    m.write_text(text.replace("  - {name: tb, plugin: toygen-boxes}", "  - {name: phys, plugin: physics}")
                 .replace("guidance: [7, 9]", "guidance: [7]"))
    res = CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / "r"),
                                    "--cache-dir", str(tmp_path / "c"), "--no-report"])
    data = json.loads((tmp_path / "r" / "masks" / "results.json").read_text())
    assert any("mask labeler" in n for n in data["run"]["plan_notes"])
    cells = {c["cell"]["generator"]: c for c in data["cells"]}
    assert set(cells) == {"tg", "phys"}  # no teacher: the plan adds no real-only row for one
    phys = cells["phys"]
    assert phys["status"] == "ok" and "teacher" not in phys, res.output
    # every planned cracked frame either trains with its mask's boxes or is dropped and counted: at this
    # test's 32-px crops the simulator can leave a crack outside the crop, and an empty mask gives no box
    counts = phys["counts"]
    assert phys["synthetic_in_training"]["crack"] == counts["synthetic_pos"] > counts["synthetic_pos_planned"] // 2
    assert counts["synthetic_pos"] + counts["synthetic_pos_dropped"] == counts["synthetic_pos_planned"]
    tg = cells["tg"]  # toygen's frames carry no mask: its cell fails, naming the fix
    assert tg["status"] == "failed" and "without a crack mask" in tg["error"] and tg["synthetic_in_training"] is None


def _run_masks(tmp_path, name: str, tg_row: str | None, exit_code: int = 0) -> dict[str, dict]:
    """A `labeler: mask` run with the physics row and, when given, the tg row as written."""
    m = benchbench_toys.write_matrix(tmp_path, name=name, seeds=[0], ratios=[0.5], bootstrap=0)
    text = m.read_text().replace("labeler: {kind: teacher, threshold: 0.3}", "labeler: mask")
    text = text.replace("  - {name: tb, plugin: toygen-boxes}", "  - {name: phys, plugin: physics}")
    text = text.replace("  - {name: tg, plugin: toygen}\n", f"{tg_row}\n" if tg_row else "")
    m.write_text(text.replace("guidance: [7, 9]", "guidance: [7]"))
    res = CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / "r"),
                                    "--cache-dir", str(tmp_path / "c"), "--no-report"])
    assert res.exit_code == exit_code, res.output
    data = json.loads((tmp_path / "r" / name / "results.json").read_text())
    return {c["cell"]["generator"] or "real": c for c in data["cells"]}


def test_a_generator_row_labeler_teaches_that_row_and_keeps_the_other_cells_keys(tmp_path, toys):
    # the study's case: physics labelled by its masks, a boxless (diffusion) row taught by the real-only model
    mixed = _run_masks(tmp_path, "mixed", "  - {name: tg, plugin: toygen, labeler: {kind: teacher, threshold: 0.3}}")
    tg, phys, real = mixed["tg"], mixed["phys"], mixed["real"]
    assert tg["status"] == "ok" and tg["teacher"]["threshold"] == 0.3 and tg["labeler"]["kind"] == "teacher"
    assert phys["status"] == "ok" and "teacher" not in phys and phys["labeler"]["kind"] == "mask"
    assert real["labeler"]["kind"] == "mask"  # real-only cells keep the matrix's labeler, as their keys do
    # adding the row changed no other cell's key: a run of the matrix without it resumes them all
    alone = _run_masks(tmp_path, "alone", None)
    assert set(alone) == {"phys"}  # mask only: no teacher, so the plan adds no real-only row
    assert alone["phys"]["key"] == phys["key"]
    with_boxes = _run_masks(tmp_path, "tg-boxes", "  - {name: tg, plugin: toygen}", exit_code=1)
    assert with_boxes["phys"]["key"] == phys["key"] and "give the row labeler: teacher" in with_boxes["tg"]["error"]
