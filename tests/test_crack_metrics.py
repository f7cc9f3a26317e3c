"""Crack-scale metrics: size ranges, the error breakdown, pinned on hand-computed fixtures and references."""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

import numpy as np
import pytest

from benchbench.api import Box, Frame, FrameSet
from benchbench.method.evaluation import evaluate_predictions
from benchbench.metrics import CocoEval, grouped_bootstrap_ci
from benchbench.metrics.bootstrap import grouped_bootstrap_cis
from benchbench.metrics.errors import error_breakdown
from benchbench.metrics.masks import frame_mask, hit_ap, hit_table, mask_counts, mask_scores, skeleton
from benchbench.metrics.operating import best_f1_threshold, choose_threshold, crack_counts, expected_calibration_error

# Hand fixture, thin boxes (w x h):
#   image 1: crack A 4x40, found (0.9), found again (0.8: duplicate), a far box (0.5: background)
#   image 2: crack B 3x40, a box shifted by 1 px right and down (0.7): IoU 78/162 = 0.48, localisation
#   image 3: no crack, a box (0.6: background)
#   image 4: crack C 5x30, nothing predicted (missed)
A, B, C = [10.0, 10.0, 4.0, 40.0], [20.0, 20.0, 3.0, 40.0], [30.0, 30.0, 5.0, 30.0]
HAND_GT = {"images": [{"id": i, "width": 128, "height": 128} for i in (1, 2, 3, 4)],
           "annotations": [{"id": j + 1, "image_id": im, "category_id": 1, "bbox": b, "area": b[2] * b[3],
                            "iscrowd": 0} for j, (im, b) in enumerate(((1, A), (2, B), (4, C)))],
           "categories": [{"id": 1, "name": "crack"}]}
HAND_DT = [{"image_id": im, "category_id": 1, "bbox": b, "score": s} for im, b, s in (
    (1, A, 0.9), (1, A, 0.8), (1, [100.0, 100.0, 5.0, 5.0], 0.5), (2, [21.0, 21.0, 3.0, 40.0], 0.7),
    (3, [50.0, 50.0, 10.0, 10.0], 0.6))]
SIZES = {"hairline": ("short_side", 0.0, 4.5), "thin": ("short_side", 4.5, 7.5), "wide": ("short_side", 7.5, 1e10)}


def test_hand_fixture_error_breakdown() -> None:
    out = error_breakdown(CocoEval.from_coco(HAND_GT, HAND_DT))
    # One hit of three cracks at precision 1: recall points 0.00..0.33 -> 34 of 101.
    assert out["ap"] == pytest.approx(34 / 101, abs=1e-12)
    assert out["counts"] == {"localisation": 1, "duplicate": 1, "background": 2, "missed": 1, "other": 0}
    # The duplicate and the background boxes all score below the one hit: removing them changes nothing.
    assert out["delta_ap"]["duplicate"] == pytest.approx(0.0, abs=1e-12)
    assert out["delta_ap"]["background"] == pytest.approx(0.0, abs=1e-12)
    # Fixing the shifted box adds a hit at precision 2/3 for recall 0.34..0.66 (33 points).
    assert out["delta_ap"]["localisation"] == pytest.approx(22 / 101, abs=1e-12)
    # Without the missed crack, recall reaches 1/2 at precision 1: 51 points.
    assert out["delta_ap"]["missed"] == pytest.approx(17 / 101, abs=1e-12)
    assert out["per_image"].tolist() == [[0, 1, 1, 0, 0], [1, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0]]


def test_one_pixel_shift_passes_low_iou_only() -> None:
    ev = CocoEval.from_coco(HAND_GT, HAND_DT, iou_thresholds=[0.1, 0.5])
    assert ev.ap_at(0.5) == pytest.approx(34 / 101, abs=1e-12)
    assert ev.ap_at(0.1) == pytest.approx(56 / 101, abs=1e-12)  # the shifted box counts at IoU 0.1


def test_hand_fixture_size_ranges() -> None:
    ev = CocoEval.from_coco(HAND_GT, HAND_DT, size_ranges=SIZES)
    hairline, thin, wide = ev.aps([(0.5, "hairline"), (0.5, "thin"), (0.5, "wide")])
    # Hairline: A and B; unmatched boxes wider than 4.5 px are ignored, the duplicate and shifted box count.
    assert hairline == pytest.approx(51 / 101, abs=1e-12)
    assert thin == 0.0  # C missed, the 5x5 box is a false positive of this range
    assert wide == -1.0  # no crack that wide
    assert ev.aps([(0.5, None)])[0] == pytest.approx(ev.stat("AP50"), abs=1e-15)


def _random_case(seed: int, n_img: int = 30) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Thin crack boxes with jittered predictions and random false alarms."""
    rng = np.random.default_rng(seed)
    images, anns, dets = [], [], []
    for i in range(1, n_img + 1):
        images.append({"id": i, "width": 200, "height": 200})
        for _ in range(rng.integers(0, 4)):
            w, h = rng.uniform(3, 12), rng.uniform(20, 60)
            w, h = (h, w) if rng.random() < 0.5 else (w, h)
            b = [float(rng.uniform(0, 140)), float(rng.uniform(0, 140)), float(w), float(h)]
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 1, "bbox": b, "area": b[2] * b[3],
                         "iscrowd": 0})
            for _ in range(rng.integers(0, 3)):
                j = rng.normal(0, 1.5, 4)
                dets.append({"image_id": i, "category_id": 1, "score": float(rng.random()),
                             "bbox": [b[0] + j[0], b[1] + j[1], max(1.0, b[2] + j[2]), max(1.0, b[3] + j[3])]})
        for _ in range(rng.integers(0, 3)):
            dets.append({"image_id": i, "category_id": 1, "score": float(rng.random()),
                         "bbox": [float(v) for v in (*rng.uniform(0, 150, 2), *rng.uniform(3, 40, 2))]})
    return {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "crack"}]}, dets


# Seed 2 is left out on purpose: TIDE's recall grid is x / 100, COCO's (ours) np.linspace(0, 1, 101),
# and there the missed-fixed recall 9/30 = 0.3 lands exactly on a point where the two grids differ by 1 ulp.
@pytest.mark.parametrize("seed", [0, 1, 3, 4, 5, 6])
def test_error_breakdown_matches_tidecv(seed: int) -> None:
    tidecv = pytest.importorskip("tidecv")
    gt, dt = _random_case(seed)
    ref_gt, ref_dt = tidecv.Data("gt"), tidecv.Data("pred")
    for im in gt["images"]:  # TIDE skips the predictions of images it was not told about
        ref_gt.add_image(im["id"], str(im["id"]))
    for a in gt["annotations"]:
        ref_gt.add_ground_truth(a["image_id"], 1, a["bbox"])
    for d in dt:
        ref_dt.add_detection(d["image_id"], 1, d["score"], d["bbox"])
    tide = tidecv.TIDE()
    with contextlib.redirect_stdout(io.StringIO()):
        tide.evaluate(ref_gt, ref_dt, mode=tidecv.TIDE.BOX)
    run = tide.runs["pred"]
    counts = {e.short_name: n for e, n in run.count_errors().items()}
    delta = tide.get_main_errors()["pred"]
    ours = error_breakdown(CocoEval.from_coco(gt, dt))
    assert ours["ap"] == pytest.approx(run.ap / 100, abs=1e-9)
    names = {"localisation": "Loc", "duplicate": "Dupe", "background": "Bkg", "missed": "Miss"}
    assert {k: ours["counts"][k] for k in names} == {k: counts[v] for k, v in names.items()}
    for ours_name, tide_name in names.items():
        assert ours["delta_ap"][ours_name] == pytest.approx(delta[tide_name] / 100, abs=1e-9), ours_name


def _pycoco_range_aps(gt: dict[str, Any], dt: list[dict[str, Any]], ranges: list[tuple[float, float]]) -> list[float]:
    """pycocotools AP50 per custom areaRng, every box's 'area' replaced by its short side."""
    coco_mod = pytest.importorskip("pycocotools.coco")
    cocoeval_mod = pytest.importorskip("pycocotools.cocoeval")
    gt = copy.deepcopy(gt)
    for a in gt["annotations"]:
        a["area"] = min(a["bbox"][2], a["bbox"][3])
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = coco_mod.COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(dt))
        for ann in coco_dt.anns.values():
            ann["area"] = min(ann["bbox"][2], ann["bbox"][3])
        ev = cocoeval_mod.COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.areaRng = [list(r) for r in ranges]
        ev.params.areaRngLbl = [f"r{i}" for i in range(len(ranges))]
        ev.evaluate()
        ev.accumulate()
    out = []
    for a in range(len(ranges)):
        p = ev.eval["precision"][0, :, :, a, -1]
        out.append(float(np.mean(p[p > -1])) if (p > -1).any() else -1.0)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_size_ranges_match_pycocotools_custom_area_ranges(seed: int) -> None:
    gt, dt = _random_case(10 + seed, n_img=40)
    ranges = [(0.0, 4.5), (4.5, 7.5), (7.5, 1e10)]
    ev = CocoEval.from_coco(gt, dt, size_ranges={n: ("short_side", lo, hi) for n, (lo, hi) in
                                                 zip(("h", "t", "w"), ranges, strict=True)})
    ours = ev.aps([(0.5, name) for name in ("h", "t", "w")])
    assert ours.tolist() == pytest.approx(_pycoco_range_aps(gt, dt, ranges), abs=1e-9)
    assert ev.stats() == CocoEval.from_coco(gt, dt).stats()  # extra ranges leave the 12 stats alone


def test_fused_bootstrap_gives_each_metric_its_own_interval() -> None:
    gt, dt = _random_case(3, n_img=40)
    ev = CocoEval.from_coco(gt, dt)
    groups = [f"g{i % 6}" for i in range(len(ev.image_ids))]
    low, high = grouped_bootstrap_cis(groups, len(groups), lambda s: ev.aps([(None, None), (0.5, None)], s),
                                      n_boot=50, seed=3)
    assert (low[0], high[0]) == grouped_bootstrap_ci(ev, groups, lambda e, s: e.stat("AP", s), n_boot=50, seed=3)
    assert (low[1], high[1]) == grouped_bootstrap_ci(ev, groups, lambda e, s: e.stat("AP50", s), n_boot=50, seed=3)


def test_unknown_size_range_and_bad_measure() -> None:
    ev = CocoEval.from_coco(HAND_GT, HAND_DT, size_ranges=SIZES)
    with pytest.raises(ValueError, match="unknown size range 'huge'"):
        ev.aps([(0.5, "huge")])
    with pytest.raises(ValueError, match="size range 'x'"):
        CocoEval.from_coco(HAND_GT, HAND_DT, size_ranges={"x": ("diagonal", 0.0, 1.0)})


# --------------------------------------------------------------------------- masks


def _mask_frame(tmp_path, boxes=(Box(10, 5, 3, 30),), name="f.png", group="S1") -> Frame:
    """20x40 frame whose mask is a 3-px-wide vertical crack: columns 10-12, rows 5-34 (90 pixels)."""
    from PIL import Image

    mask = np.zeros((40, 20), np.uint8)
    mask[5:35, 10:13] = 255
    Image.fromarray(mask).save(tmp_path / name)
    return Frame(None, 20, 40, "crack", tuple(boxes), group, meta={"mask": str(tmp_path / name), "name": name})


def test_skeleton_of_a_thick_line_is_its_centre_column() -> None:
    mask = np.zeros((40, 20), bool)
    mask[5:35, 10:13] = True
    thin = skeleton(mask)
    assert set(np.nonzero(thin)[1].tolist()) == {11}
    assert thin[10:30, 11].all()


def test_mask_partly_covered(tmp_path) -> None:
    frame = _mask_frame(tmp_path)
    upper_half = Box(10, 5, 3, 15, score=0.9)  # pixel centres in rows 5..19: 45 of 90
    far = Box(0, 0, 3, 3, score=0.8)
    counts = mask_counts([frame], [[upper_half, far]], threshold=0.5)
    assert counts.tolist() == [[90, 45, 1, 1, 2, 1]]
    assert mask_scores(counts) == {"pixel_recall": 0.5, "crack_recall": 1.0, "box_precision": 0.5}
    # Above 0.85 only the upper half is kept; with cover 0.6 it still hits: its centre is on the skeleton.
    counts = mask_counts([frame], [[upper_half, far]], threshold=0.85, cover=0.6, distance=0.0)
    assert mask_scores(counts) == {"pixel_recall": 0.5, "crack_recall": 1.0, "box_precision": 1.0}
    # A box beside the crack neither covers 60 % nor lies within 2 px of the centre line.
    beside = Box(14, 5, 3, 30, score=0.9)
    assert mask_scores(mask_counts([frame], [[beside]], 0.5, cover=0.6, distance=2.0))["crack_recall"] == 0.0


def test_one_pixel_shift_fails_iou_but_hits_the_mask(tmp_path) -> None:
    frame = _mask_frame(tmp_path)
    shifted = Box(11, 6, 3, 30, score=0.9)  # IoU 58 / 122 = 0.48 with the crack's box
    out = evaluate_predictions(FrameSet([frame]), [[shifted]], iou_thresholds=[0.1], n_boot=0)
    assert out["mAP50"]["value"] == 0.0 and out["AP10"]["value"] == pytest.approx(1.0)
    assert out["errors"]["counts"]["localisation"] == 1
    assert out["masks"]["crack_recall"]["value"] == 1.0
    assert out["masks"]["pixel_recall"]["value"] == pytest.approx(58 / 90)


def test_hit_ap_counts_offset_boxes_and_refuses_duplicates(tmp_path) -> None:
    frames = [_mask_frame(tmp_path, name=f"{i}.png") for i in range(3)]
    shifted = Box(11, 6, 3, 30, score=0.9)  # IoU 0.48: a false positive for mAP50, a hit here
    duplicate = Box(10, 5, 3, 30, score=0.8)  # hits the crack the shifted box already claimed
    background = Box(0, 0, 3, 3, score=0.7)
    partial = Box(9, 5, 5, 18, score=0.5)  # 54 of 90 crack pixels (cover 0.6), IoU 54 / 126 = 0.43
    preds = [[duplicate, background, shifted], [], [partial]]  # frame 1: a missed crack
    table = hit_table(frames, preds)
    assert table.hit.tolist() == [True, False, False, True] and table.frame.tolist() == [0, 0, 0, 2]
    # Precision 1 up to recall 1/3 (34 recall points), then 2/4 up to 2/3 (33 points); never recall 1.
    assert hit_ap(table) == pytest.approx((34 + 33 * 0.5) / 101, abs=1e-12)
    out = evaluate_predictions(FrameSet(frames), preds, iou_thresholds=[0.1], n_boot=0)
    assert out["masks"]["hit_AP"]["value"] == pytest.approx(50.5 / 101, abs=1e-12)
    # At IoU 0.5 only the second box (on the crack) matches: one crack of three at precision 1/2.
    assert out["mAP50"]["value"] == pytest.approx(34 * 0.5 / 101, abs=1e-12)
    # A resample with a frame twice scores as the frame set with that frame copied.
    twice = evaluate_predictions(FrameSet([frames[0], frames[0], frames[1]]), [preds[0], preds[0], preds[1]],
                                 iou_thresholds=[0.1], n_boot=0)
    assert hit_ap(table, np.array([0, 0, 1])) == pytest.approx(twice["masks"]["hit_AP"]["value"], abs=1e-12)
    assert np.isnan(hit_ap(hit_table(frames[:1], [[]]), np.array([], dtype=np.int64)))


def test_a_drawn_mask_scores_as_its_file(tmp_path) -> None:
    # metrics/masks.py reads what meta["mask"] holds, a file or a drawing, without asking what made the frame.
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Drawing:
        def __call__(self) -> np.ndarray:
            mask = np.zeros((40, 20), bool)
            mask[5:35, 10:13] = True
            return mask

    on_file = _mask_frame(tmp_path)
    drawn = Frame(None, 20, 40, "crack", on_file.boxes, meta={"mask": Drawing()})
    preds = [[Box(10, 5, 3, 15, score=0.9), Box(0, 0, 3, 3, score=0.8)]]
    assert (frame_mask(drawn) == frame_mask(on_file)).all()
    assert mask_counts([drawn], preds, 0.5).tolist() == mask_counts([on_file], preds, 0.5).tolist()
    assert drawn.without_truth().meta == {}  # a mask is truth: predict never sees it


def test_metrics_import_no_data_module_and_no_private_name_of_a_sibling() -> None:
    import ast
    from pathlib import Path

    import benchbench.metrics

    for path in Path(benchbench.metrics.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("benchbench"):
                assert not node.module.startswith("benchbench.data"), f"{path.name}: imports {node.module}"
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name}: imports {private} from {node.module}"


def test_frames_without_masks_say_so() -> None:
    frame = Frame(None, 20, 40, "crack", (Box(10, 5, 3, 30),))
    out = evaluate_predictions(FrameSet([frame]), [[Box(10, 5, 3, 30, 0.9)]], iou_thresholds=[0.1], n_boot=0)
    assert out["masks"] == {"available": False, "reason": "test frames carry no crack masks"}


def test_simulated_frames_carry_their_masks() -> None:
    from benchbench.data.simulate import simulate_frames

    frame = next(f for f in simulate_frames(10, 0) if f.label == "crack")
    mask = frame_mask(frame)
    ys, xs = np.nonzero(mask)
    b = frame.boxes[0]
    assert (xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()) == (b.x, b.y, b.w, b.h)


# --------------------------------------------------------------------------- operating point


def _val_eval() -> CocoEval:
    """Three cracks; boxes by score: hit (0.9), false alarm (0.8), hit (0.7), false alarm (0.3)."""
    gt = {"images": [{"id": i} for i in (1, 2, 3)], "categories": [{"id": 1}],
          "annotations": [{"id": i, "image_id": i, "category_id": 1, "bbox": [10, 10, 4, 40]} for i in (1, 2, 3)]}
    dt = [{"image_id": im, "category_id": 1, "bbox": b, "score": s} for im, b, s in (
        (1, [10, 10, 4, 40], 0.9), (1, [60, 60, 5, 5], 0.8), (2, [10, 10, 4, 40], 0.7), (3, [60, 60, 5, 5], 0.3))]
    return CocoEval.from_coco(gt, dt, iou_thresholds=[0.1])


def test_f1_max_threshold_on_validation() -> None:
    # Keeping 1, 2, 3, 4 boxes: F1 = 2/4, 2/5, 4/6, 4/7; the best keeps three, i.e. threshold 0.3.
    threshold, f1 = best_f1_threshold(_val_eval(), 0.1)
    assert threshold == 0.3 and f1 == pytest.approx(4 / 6)
    assert choose_threshold(_val_eval(), 0.1, 0.5) == {"threshold": 0.3, "source": "validation F1-max",
                                                        "val_f1": pytest.approx(4 / 6)}
    assert choose_threshold(None, 0.1, 0.5)["source"] == "matrix score_threshold (no validation frames)"
    counts = crack_counts(_val_eval(), 0.1, 0.3)
    assert counts.sum(axis=0).tolist() == [2, 1, 3]


def test_expected_calibration_error() -> None:
    # Bins of width 0.1: (0.9, hit), (0.8, miss), (0.7, hit), (0.3, miss) -> |0.1| + |0.8| + |0.3| + |0.3|, / 4
    assert expected_calibration_error(_val_eval(), 0.1) == pytest.approx((0.1 + 0.8 + 0.3 + 0.3) / 4)


# --------------------------------------------------------------------------- slices


def test_group_slices_equal_evaluating_each_specimen_alone(tmp_path) -> None:
    frames = [_mask_frame(tmp_path, name=f"{g}{i}.png", group=g) for g in ("S1", "S2") for i in range(3)]
    preds = [[Box(10, 5, 3, 30, 0.9)], [Box(11, 6, 3, 30, 0.8)], [], [Box(10, 5, 3, 30, 0.6), Box(0, 0, 4, 4, 0.7)],
             [Box(10, 5, 3, 15, 0.9)], [Box(2, 2, 3, 3, 0.4)]]
    test = FrameSet(frames)
    out = evaluate_predictions(test, preds, iou_thresholds=[0.1, 0.3], n_boot=0)
    for g, lo in (("S1", 0), ("S2", 3)):
        alone = evaluate_predictions(FrameSet(frames[lo:lo + 3]), preds[lo:lo + 3], iou_thresholds=[0.1, 0.3],
                                     n_boot=0)
        sl = out["groups"][g]
        assert (sl["n_frames"], sl["n_cracked"], sl["n_cracks"]) == (3, 3, 3)
        for name in ("mAP50_95", "mAP50", "AP10", "AP30"):
            assert sl[name] == pytest.approx(alone[name]["value"], abs=1e-12), (g, name)
        assert sl["masks"] == pytest.approx({k: alone["masks"][k]["value"] for k in sl["masks"]})
        assert sl["frame"]["f1"] == alone["frame"]["f1"]
