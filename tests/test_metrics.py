"""benchbench.metrics against pycocotools, plus bootstrap and frame-level metrics."""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchbench.metrics import (
    STAT_NAMES,
    CocoEval,
    auroc,
    evaluate,
    frame_metrics,
    frame_top_scores,
    grouped_bootstrap_ci,
    load_coco_json,
    load_results_json,
)

# --------------------------------------------------------------------------- generated cases


def _box(rng: np.random.Generator) -> list[float]:
    # Spread sizes over the small / medium / large COCO ranges.
    side = rng.choice([4.0, 20.0, 50.0, 120.0]) * rng.uniform(0.5, 1.5)
    w, h = side * rng.uniform(0.3, 1.0), side * rng.uniform(0.3, 1.0)
    return [float(rng.uniform(0, 300)), float(rng.uniform(0, 300)), float(w), float(h)]


def _jitter(box: list[float], rng: np.random.Generator, amount: float) -> list[float]:
    x, y, w, h = box
    return [
        x + rng.normal(0, amount * w),
        y + rng.normal(0, amount * h),
        max(0.5, w * rng.uniform(1 - amount, 1 + amount)),
        max(0.5, h * rng.uniform(1 - amount, 1 + amount)),
    ]


def make_case(
    seed: int, n_images: int = 12, n_cats: int = 2, crowd_rate: float = 0.1, tie_scores: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    images = [{"id": int(i) * 3 + 7, "width": 400, "height": 400} for i in rng.permutation(n_images)]
    categories = [{"id": c + 1, "name": f"c{c}"} for c in range(n_cats)]
    annotations: list[dict[str, Any]] = []
    dets: list[dict[str, Any]] = []
    for im in images:
        for _ in range(int(rng.integers(0, 9))):
            box = _box(rng)
            area = box[2] * box[3] if rng.random() < 0.7 else box[2] * box[3] * rng.uniform(0.4, 1.0)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": im["id"],
                    "category_id": int(rng.integers(1, n_cats + 1)),
                    "bbox": box,
                    "area": float(area),
                    "iscrowd": int(rng.random() < crowd_rate),
                }
            )
            for _ in range(int(rng.integers(0, 3))):
                dets.append(_det(im["id"], annotations[-1]["category_id"], _jitter(box, rng, 0.15), rng))
        for _ in range(int(rng.integers(0, 4))):  # pure false positives
            dets.append(_det(im["id"], int(rng.integers(1, n_cats + 1)), _box(rng), rng))
    if tie_scores:
        for d in dets:
            d["score"] = round(d["score"], 1)
    order = rng.permutation(len(dets))
    return {"images": images, "annotations": annotations, "categories": categories}, [dets[i] for i in order]


def _det(image_id: int, cat: int, box: list[float], rng: np.random.Generator) -> dict[str, Any]:
    return {"image_id": image_id, "category_id": cat, "bbox": [float(v) for v in box], "score": float(rng.random())}


# --------------------------------------------------------------------------- reference


def pycoco_stats(
    gt: dict[str, Any], dt: list[dict[str, Any]], iou_thresholds: list[float] | None = None
) -> dict[str, float]:
    coco_mod = pytest.importorskip("pycocotools.coco")
    cocoeval_mod = pytest.importorskip("pycocotools.cocoeval")
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = coco_mod.COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        if dt:
            coco_dt = coco_gt.loadRes(copy.deepcopy(dt))
        else:  # loadRes cannot take an empty list
            coco_dt = coco_mod.COCO()
            coco_dt.dataset = {"images": gt["images"], "annotations": [], "categories": gt["categories"]}
            coco_dt.createIndex()
        ev = cocoeval_mod.COCOeval(coco_gt, coco_dt, "bbox")
        if iou_thresholds is not None:
            ev.params.iouThrs = np.array(iou_thresholds, dtype=np.float64)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return dict(zip(STAT_NAMES, map(float, ev.stats), strict=True))


def assert_same(ours: dict[str, float], ref: dict[str, float]) -> None:
    assert list(ours) == list(STAT_NAMES)
    for name in STAT_NAMES:
        assert ours[name] == pytest.approx(ref[name], abs=1e-9, rel=0), (name, ours, ref)


# --------------------------------------------------------------------------- COCO vs pycocotools


@pytest.mark.parametrize("seed", range(40))
def test_random_cases_match_pycocotools(seed: int) -> None:
    gt, dt = make_case(seed, n_images=8 + seed % 7, n_cats=1 + seed % 3, tie_scores=seed % 4 == 0)
    assert_same(evaluate(gt, dt), pycoco_stats(gt, dt))


@pytest.mark.parametrize("seed", range(6))
def test_custom_iou_thresholds_match_pycocotools(seed: int) -> None:
    gt, dt = make_case(100 + seed, tie_scores=seed % 2 == 0)
    thresholds = [0.1, 0.3, 0.5]
    ours = evaluate(gt, dt, thresholds)
    assert_same(ours, pycoco_stats(gt, dt, thresholds))
    assert ours["AP75"] == -1.0  # 0.75 not configured, as in pycocotools


def test_heavy_ties_and_crowds() -> None:
    gt, dt = make_case(7, n_images=15, crowd_rate=0.4)
    for d in dt:
        d["score"] = 0.5  # every tie is broken by image order, then input order
    assert_same(evaluate(gt, dt), pycoco_stats(gt, dt))


def test_more_than_100_detections_per_image() -> None:
    rng = np.random.default_rng(3)
    gt, dt = make_case(11, n_images=4, n_cats=1)
    crowded = gt["images"][0]["id"]
    for _ in range(6):
        box = _box(rng)
        ann_id = len(gt["annotations"]) + 1
        gt["annotations"].append(
            {"id": ann_id, "image_id": crowded, "category_id": 1, "bbox": box, "area": box[2] * box[3], "iscrowd": 0}
        )
        dt += [_det(crowded, 1, _jitter(box, rng, 0.2), rng) for _ in range(40)]
    assert sum(d["image_id"] == crowded for d in dt) > 200
    assert_same(evaluate(gt, dt), pycoco_stats(gt, dt))


@pytest.mark.parametrize("seed", range(8))
def test_dense_overlaps_integer_boxes_match_pycocotools(seed: int) -> None:
    # Clustered integer boxes: many exact IoU ties, competing detections, crowds,
    # coarse score ties and often more than 100 detections per image.
    rng = np.random.default_rng(seed)
    images = [{"id": i} for i in range(int(rng.integers(1, 5)))]
    anns: list[dict[str, Any]] = []
    dets: list[dict[str, Any]] = []

    def rand_box() -> list[int]:
        return [int(v) for v in (*rng.integers(0, 20, 2), *rng.integers(1, 40, 2))]

    for im in images:
        for _ in range(int(rng.integers(0, 25))):
            box = rand_box()
            area = box[2] * box[3] * float(rng.choice([1.0, 1.0, 3.0, 0.2]))
            anns.append(
                {"id": len(anns) + 1, "image_id": im["id"], "category_id": 1, "bbox": box, "area": area,
                 "iscrowd": int(rng.random() < 0.15)}
            )  # fmt: skip
        dets += [
            {"image_id": im["id"], "category_id": 1, "bbox": rand_box(), "score": float(rng.integers(0, 5)) / 4}
            for _ in range(int(rng.integers(0, 150)))
        ]
    gt = {"images": images, "annotations": anns, "categories": [{"id": 1}]}
    thresholds = None if seed % 2 else [0.1, 0.3, 0.5]
    assert_same(evaluate(gt, dets, thresholds), pycoco_stats(gt, dets, thresholds))


def _dense_case(seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Clustered integer boxes: competing detections, crowds, zero gt ids, score ties."""
    rng = np.random.default_rng(seed)
    images = [{"id": i} for i in range(int(rng.integers(1, 5)))]
    anns: list[dict[str, Any]] = []
    dets: list[dict[str, Any]] = []
    for im in images:
        for _ in range(int(rng.integers(0, 25))):
            box = [int(v) for v in (*rng.integers(0, 20, 2), *rng.integers(1, 40, 2))]
            anns.append({"id": len(anns) + (seed % 3 != 0), "image_id": im["id"], "category_id": 1, "bbox": box,
                         "area": box[2] * box[3] * float(rng.choice([1.0, 3.0, 0.2])),
                         "iscrowd": int(rng.random() < 0.15)})
        dets += [{"image_id": im["id"], "category_id": 1, "score": float(rng.integers(0, 5)) / 4,
                  "bbox": [int(v) for v in (*rng.integers(0, 20, 2), *rng.integers(1, 40, 2))]}
                 for _ in range(int(rng.integers(0, 150)))]
    return {"images": images, "annotations": anns, "categories": [{"id": 1}]}, dets


@pytest.mark.parametrize("seed", range(12))
def test_single_candidate_matching_equals_the_sequential_greedy(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Detections reaching one gt are matched for all images at once; forcing every image through
    # the sequential greedy matching must give the very same tables, size ranges included.
    from benchbench.metrics import matching as coco

    gt, dt = make_case(seed, n_images=10, crowd_rate=0.3) if seed % 2 else _dense_case(seed)
    thresholds = [0.1, 0.3, 0.5, 1.0] if seed % 3 == 0 else None
    ranges = {"thin": ("short_side", 0.0, 6.0), "mid": ("area", 100.0, 2000.0)}
    fast = CocoEval.from_coco(gt, dt, thresholds, ranges).tables
    monkeypatch.setattr(coco, "_tangled_keys", lambda e_det, d_key, n_keys: np.ones(n_keys, dtype=bool))
    slow = CocoEval.from_coco(gt, dt, thresholds, ranges).tables
    for name in ("tp", "fp", "gt_matched", "score", "img", "rank", "by_image", "has_ties", "npig"):
        assert np.array_equal(getattr(fast, name), getattr(slow, name)), name


def test_pr_curves_match_running_counts() -> None:
    # Sparse hits take the reduceat path, dense ones the running-count path: both equal the
    # cumulative sums pycocotools forms.
    from benchbench.metrics.prcurves import RECALL_THRESHOLDS
    from benchbench.metrics.prcurves import pr_curves as _pr_curves

    rng = np.random.default_rng(0)
    for rate in (0.002, 0.3):
        tp = rng.random((7, 3000)) < rate
        fp = ~tp & (rng.random(tp.shape) < 0.6)
        npig = int(tp.sum(axis=1).max()) + rng.integers(1, 200, 7)
        precision, recall = _pr_curves(tp, fp, npig)
        for r in range(7):
            tps, fps = np.cumsum(tp[r]).astype(float), np.cumsum(fp[r]).astype(float)
            pr = tps / (fps + tps + np.spacing(1))
            pr = np.maximum.accumulate(pr[::-1])[::-1]
            inds = np.searchsorted(tps / npig[r], RECALL_THRESHOLDS, side="left")
            expected = np.array([pr[i] if i < pr.size else 0.0 for i in inds])
            assert np.array_equal(precision[r], expected)
            assert recall[r] == tps[-1] / npig[r]


def test_ap_spec_over_a_list_of_ious_equals_the_mean_over_all_thresholds() -> None:
    gt, dt = make_case(9, n_images=12, n_cats=1)
    coco_ious = [float(t) for t in np.linspace(0.5, 0.95, 10)]
    std = CocoEval.from_coco(gt, dt)
    both = CocoEval.from_coco(gt, dt, sorted({*coco_ious, 0.1, 0.3}))
    sample = np.random.default_rng(1).integers(0, 12, 12)
    for s in (None, sample):
        ours = both.aps([(coco_ious, None), (0.5, None)], s).tolist()
        assert ours == std.aps([(None, None), (0.5, None)], s).tolist()
    assert both.aps([(coco_ious, None)])[0] == std.stats()["AP"]


def test_empty_predictions() -> None:
    gt, _ = make_case(5)
    ours = evaluate(gt, [])
    assert_same(ours, pycoco_stats(gt, []))
    assert all(v in (0.0, -1.0) for v in ours.values())
    assert ours["AP"] == 0.0


def test_no_ground_truth_at_all() -> None:
    gt, dt = make_case(9)
    gt["annotations"] = []
    ours = evaluate(gt, dt)
    assert_same(ours, pycoco_stats(gt, dt))
    assert set(ours.values()) == {-1.0}
    assert set(evaluate(gt, []).values()) == {-1.0}


def test_images_without_gt_or_detections() -> None:
    gt, dt = make_case(21, n_images=10)
    extra = [{"id": 1000 + i} for i in range(5)]  # sane frames, some with false positives
    gt["images"] += extra
    rng = np.random.default_rng(0)
    dt += [_det(extra[0]["id"], 1, _box(rng), rng), _det(extra[1]["id"], 1, _box(rng), rng)]
    assert_same(evaluate(gt, dt), pycoco_stats(gt, dt))


def test_gt_id_zero_quirk_is_reproduced() -> None:
    gt, dt = make_case(13, n_images=6, n_cats=1, crowd_rate=0.0)
    for ann in gt["annotations"]:
        ann["id"] -= 1  # ids from 0: pycocotools never counts gt id 0 as a true positive
    assert_same(evaluate(gt, dt), pycoco_stats(gt, dt))


def test_missing_area_falls_back_to_box_area() -> None:
    gt, dt = make_case(17, crowd_rate=0.0)
    with_area = copy.deepcopy(gt)
    for ann in with_area["annotations"]:
        ann["area"] = ann["bbox"][2] * ann["bbox"][3]
    for ann in gt["annotations"]:
        del ann["area"]
    assert evaluate(gt, dt) == evaluate(with_area, dt)


def test_unknown_category_predictions_are_dropped_like_pycocotools() -> None:
    gt, dt = make_case(19, n_cats=1)
    rng = np.random.default_rng(1)
    dt += [_det(gt["images"][0]["id"], 99, _box(rng), rng)]
    assert_same(evaluate(gt, dt), pycoco_stats(gt, dt))


def test_non_finite_inputs_are_errors() -> None:
    gt, dt = make_case(2)
    with pytest.raises(ValueError, match="score"):
        evaluate(gt, [{**dt[0], "score": float("nan")}])
    with pytest.raises(ValueError, match="finite"):
        evaluate(gt, [{**dt[0], "bbox": [0, 0, float("inf"), 1]}])


def test_unknown_image_id_is_an_error() -> None:
    gt, dt = make_case(2)
    dt.append({"image_id": -5, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5})
    with pytest.raises(ValueError, match="-5"):
        evaluate(gt, dt)


# --------------------------------------------------------------------------- CocoEval API


def test_ap_at_and_stat_agree_with_stats() -> None:
    gt, dt = make_case(23, n_images=20)
    ev = CocoEval.from_coco(gt, dt, [0.1, 0.3, 0.5, 0.75])
    stats = ev.stats()
    assert ev.ap_at(0.5) == stats["AP50"]
    assert ev.ap_at(0.75) == stats["AP75"]
    assert ev.ap_at(0.1) >= ev.ap_at(0.3) >= ev.ap_at(0.5)
    for name in STAT_NAMES:
        assert ev.stat(name) == stats[name], name
    with pytest.raises(ValueError, match=r"0\.1, 0\.3, 0\.5, 0\.75"):
        ev.ap_at(0.6)
    assert ev.image_ids == sorted(im["id"] for im in gt["images"])


def _duplicated(
    gt: dict[str, Any], dt: list[dict[str, Any]], ids: list[int]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """gt/dt where the j-th image of the sample is a copy named j + 1 (so copies sort in sample order)."""
    images, anns, dets = [], [], []
    for new_id, old_id in enumerate(ids, start=1):
        images.append({"id": new_id})
        for ann in gt["annotations"]:
            if ann["image_id"] == old_id:
                anns.append({**ann, "image_id": new_id, "id": len(anns) + 1})
        dets += [{**d, "image_id": new_id} for d in dt if d["image_id"] == old_id]
    return {"images": images, "annotations": anns, "categories": gt["categories"]}, dets


@pytest.mark.parametrize("seed", range(4))
def test_sample_with_repetition_equals_duplicated_images(seed: int) -> None:
    gt, dt = make_case(40 + seed, n_images=10, tie_scores=seed % 2 == 1)
    ev = CocoEval.from_coco(gt, dt)
    sample = np.random.default_rng(seed).integers(0, 10, size=14)
    dup_gt, dup_dt = _duplicated(gt, dt, [ev.image_ids[i] for i in sample])
    ours = ev.stats(sample)
    assert ours == evaluate(dup_gt, dup_dt)
    assert_same(ours, pycoco_stats(dup_gt, dup_dt))
    assert ev.stat("AP", sample) == ours["AP"]


def test_empty_sample_is_undefined() -> None:
    gt, dt = make_case(3)
    assert set(CocoEval.from_coco(gt, dt).stats(np.array([], dtype=int)).values()) == {-1.0}


def test_bad_sample_is_rejected() -> None:
    gt, dt = make_case(3)
    ev = CocoEval.from_coco(gt, dt)
    with pytest.raises(ValueError):
        ev.stats(np.array([0, len(ev.image_ids)]))


# --------------------------------------------------------------------------- bootstrap


def _bootstrap_case() -> tuple[CocoEval, list[str]]:
    gt, dt = make_case(77, n_images=60, n_cats=1, crowd_rate=0.0)
    ev = CocoEval.from_coco(gt, dt)
    groups = [f"flight{i % 12}" for i in range(len(ev.image_ids))]
    return ev, groups


def _ap(ev: CocoEval, sample: np.ndarray) -> float:
    return ev.stat("AP", sample)


def test_bootstrap_ci_contains_point_estimate_and_is_deterministic() -> None:
    ev, groups = _bootstrap_case()
    point = ev.stats()["AP"]
    low, high = grouped_bootstrap_ci(ev, groups, _ap, n_boot=200, seed=1)
    assert 0.0 <= low < point < high <= 1.0
    assert grouped_bootstrap_ci(ev, groups, _ap, n_boot=200, seed=1) == (low, high)
    assert grouped_bootstrap_ci(ev, groups, _ap, n_boot=200, seed=2) != (low, high)


def test_bootstrap_resamples_whole_groups() -> None:
    ev, _ = _bootstrap_case()
    groups = [f"g{i // 5}" for i in range(len(ev.image_ids))]
    seen: list[np.ndarray] = []

    def record(_: CocoEval, sample: np.ndarray) -> float:
        seen.append(sample)
        return 0.5

    assert grouped_bootstrap_ci(ev, groups, record, n_boot=20, seed=0) == (0.5, 0.5)
    assert len(seen) == 20
    for sample in seen:
        assert sample.size == len(ev.image_ids)
        counts = np.bincount(sample, minlength=len(ev.image_ids)).reshape(-1, 5)
        assert (counts == counts[:, :1]).all()  # every image of a drawn group comes together


def test_bootstrap_single_group_resamples_images() -> None:
    ev, _ = _bootstrap_case()
    groups = ["all"] * len(ev.image_ids)
    low, high = grouped_bootstrap_ci(ev, groups, _ap, n_boot=100, seed=0)
    assert low < ev.stats()["AP"] < high


def test_bootstrap_derive_equals_per_resample_ratios() -> None:
    from benchbench.metrics.bootstrap import grouped_bootstrap_cis

    counts = np.random.default_rng(0).integers(0, 5, (40, 2))
    groups = [f"g{i % 6}" for i in range(40)]

    def ratio(sample: np.ndarray) -> list[float]:
        num, den = counts[sample].sum(axis=0).tolist()
        return [num / den if den else np.nan]

    def derive(values: np.ndarray) -> np.ndarray:
        return np.where(values[:, 1:] > 0, values[:, :1] / np.maximum(values[:, 1:], 1), np.nan)

    direct = grouped_bootstrap_cis(groups, 40, ratio, n_boot=200, seed=3)
    derived = grouped_bootstrap_cis(groups, 40, lambda s: counts[s].sum(axis=0), n_boot=200, seed=3, derive=derive)
    assert np.array_equal(direct, derived)


def test_bootstrap_rejects_wrong_group_count() -> None:
    ev, groups = _bootstrap_case()
    with pytest.raises(ValueError, match="labels"):
        grouped_bootstrap_ci(ev, groups[:-1], _ap, n_boot=10)


def test_bootstrap_skips_undefined_resamples() -> None:
    ev, groups = _bootstrap_case()
    assert all(np.isnan(grouped_bootstrap_ci(ev, groups, lambda _e, _s: -1.0, n_boot=10)))


# --------------------------------------------------------------------------- frames


def brute_force_auroc(y: list[bool], s: list[float]) -> float:
    pos = [v for v, p in zip(s, y, strict=True) if p]
    neg = [v for v, p in zip(s, y, strict=True) if not p]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_frame_metrics_hand_computed() -> None:
    y = [True, True, True, False, False, False, False]
    s = [0.9, 0.5, 0.2, 0.7, 0.1, 0.0, 0.5]
    m = frame_metrics(y, s, threshold=0.5)  # strictly above: the two 0.5 frames are negative
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (1, 1, 2, 3)
    assert m["precision"] == 0.5
    assert m["recall"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(0.4)
    m = frame_metrics(y, s, threshold=0.45)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 2, 1, 2)
    assert m["f1"] == pytest.approx(4 / 7)
    # positives beat 0.7, 0.1, 0.0, 0.5 as: 0.9 -> 4, 0.5 -> 2.5, 0.2 -> 2
    assert m["auroc"] == pytest.approx(8.5 / 12)


def test_frame_metrics_zero_division_and_single_class() -> None:
    m = frame_metrics([False, False], [0.1, 0.2])
    assert (m["precision"], m["recall"], m["f1"]) == (0.0, 0.0, 0.0)
    assert np.isnan(m["auroc"])
    assert np.isnan(frame_metrics([True], [0.9])["auroc"])
    assert frame_metrics([], [])["tp"] == 0


@pytest.mark.parametrize("seed", range(10))
def test_auroc_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    y = [bool(v) for v in rng.random(n) < 0.4]
    y[0], y[1] = True, False
    s = [float(v) for v in np.round(rng.random(n), 1)]  # many ties
    assert auroc(y, s) == pytest.approx(brute_force_auroc(y, s), abs=1e-12)


def test_frame_top_scores() -> None:
    preds = [
        {"image_id": 2, "score": 0.3},
        {"image_id": 2, "score": 0.8},
        {"image_id": 9, "score": 0.4},
    ]
    assert frame_top_scores([1, 2, 9], preds).tolist() == [0.0, 0.8, 0.4]


# --------------------------------------------------------------------------- file loading


def _write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_loaders_round_trip(tmp_path: Path) -> None:
    gt, dt = make_case(4)
    gt_path, dt_path = _write(tmp_path, "gt.json", gt), _write(tmp_path, "dt.json", dt)
    loaded_gt = load_coco_json(gt_path)
    assert evaluate(loaded_gt, load_results_json(dt_path, loaded_gt)) == evaluate(gt, dt)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ([], "expected a COCO object"),
        ({"annotations": [], "categories": []}, "missing key 'images'"),
        ({"images": [], "categories": []}, "missing key 'annotations'"),
        ({"images": [{"id": 1}], "annotations": [], "categories": [{"id": 1}, {"id": 1}]}, "repeats id"),
        (
            {
                "images": [{"id": 1}],
                "categories": [{"id": 1}],
                "annotations": [{"image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1]}],
            },
            "unknown image id 2",
        ),
        (
            {
                "images": [{"id": 1}],
                "categories": [{"id": 1}],
                "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1]}],
            },
            "bbox must be 4",
        ),
    ],
)
def test_load_coco_json_errors(tmp_path: Path, content: Any, message: str) -> None:
    path = _write(tmp_path, "gt.json", content)
    with pytest.raises(ValueError, match=message) as info:
        load_coco_json(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "not valid JSON"),
        ({"a": 1}, "expected a JSON list"),
        ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}], "missing key 'score'"),
        ([{"image_id": 3, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}], "unknown image id 3"),
        ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, "a", 1], "score": 0.5}], "bbox must be 4"),
        ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": None}], "score must be"),
    ],
)
def test_load_results_json_errors(tmp_path: Path, content: Any, message: str) -> None:
    gt = {"images": [{"id": 1}], "annotations": [], "categories": [{"id": 1}]}
    path = _write(tmp_path, "dt.json", content)
    with pytest.raises(ValueError, match=message) as info:
        load_results_json(path, gt)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        load_coco_json(tmp_path / "nope.json")


def test_metrics_import_pulls_no_torch_or_pycocotools() -> None:
    import subprocess
    import sys

    code = (
        "import sys, benchbench.metrics; "
        "bad = [m for m in ('torch', 'pycocotools') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        env={"PYTHONPATH": str(root)},
    )
    assert out.stdout.strip() == ""


def test_predictions_to_coco_checks_every_box_the_way_bench_eval_does():
    from benchbench.frames import Box
    from benchbench.method.evaluation import predictions_to_coco

    preds = [[Box(1, 2.5, np.float32(3.25), np.float64(4.0), score=np.float32(0.75))], [],
             [Box(0.0, 0.0, 0.0, 1.0, score=1.0), Box(5.0, 5.0, 2.0, 2.0, score=0.0)]]
    assert predictions_to_coco(preds) == [
        {"image_id": 1, "category_id": 1, "bbox": [1.0, 2.5, 3.25, 4.0], "score": 0.75},
        {"image_id": 3, "category_id": 1, "bbox": [0.0, 0.0, 0.0, 1.0], "score": 1.0},
        {"image_id": 3, "category_id": 1, "bbox": [5.0, 5.0, 2.0, 2.0], "score": 0.0}]
    for bad, message in ((Box(True, 0.0, 1.0, 1.0), "bbox must be 4 finite numbers"),
                         (Box(0.0, 0.0, 1.0, float("nan")), "bbox must be 4 finite numbers"),
                         (Box(0.0, 0.0, -1.0, 1.0), "bbox width and height must be >= 0"),
                         (Box(0.0, 0.0, 1.0, 1.0, score=1.5), "score must be a finite number in [0, 1]")):
        with pytest.raises(ValueError, match=r"test frame 1, box 1\): " + message.replace("[", r"\[")):
            predictions_to_coco([[], [Box(0.0, 0.0, 1.0, 1.0), bad]])
