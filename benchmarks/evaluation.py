"""Item 2: COCO bbox evaluation, benchbench.metrics vs pycocotools and faster-coco-eval.

One generated set (5,000 images, 50,000 predictions; --quick: 500 / 5,000) is evaluated by all
three from the same in-memory COCO dicts: parsing/indexing, matching, accumulation and the 12
summary stats are all inside the timed call. Every repeat gets fresh deep copies (made outside
the timing) because pycocotools' loadRes edits the detections it is given.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import io
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import core
from benchmarks.core import BenchResult, Figure

NAME = "evaluation"
MAX_DIFF = 1e-9
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def make_set(n_images: int, n_dets: int, seed: int = 0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A COCO gt dict and a results list shaped like a detector's output on crack frames.

    Box sizes span COCO's small/medium/large ranges; ~1 % of gt is crowd; 60 % of predictions
    are jittered copies of a gt box of their image (true positives at various IoUs), the rest
    random boxes. Scores are float32 values, as a network emits them (occasional ties included).
    """
    rng = np.random.default_rng(seed)
    sizes = rng.choice([128, 256, 640], n_images)
    images = [{"id": i + 1, "width": int(s), "height": int(s), "file_name": f"{i + 1:06d}.png"}
              for i, s in enumerate(sizes)]
    n_gt = rng.poisson(2.0, n_images)
    gt_img = np.repeat(np.arange(n_images), n_gt)
    wh = np.exp(rng.uniform(np.log(3), np.log(200), (gt_img.size, 2)))
    wh = np.minimum(wh, sizes[gt_img, None] - 1)
    xy = rng.uniform(0, 1, (gt_img.size, 2)) * (sizes[gt_img, None] - wh)
    gt_box = np.round(np.hstack([xy, wh]), 2)
    crowd = rng.random(gt_img.size) < 0.01
    annotations = [{"id": k + 1, "image_id": int(gt_img[k]) + 1, "category_id": 1, "bbox": gt_box[k].tolist(),
                    "area": float(gt_box[k, 2] * gt_box[k, 3]), "iscrowd": int(crowd[k])}
                   for k in range(gt_img.size)]
    gt = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "crack"}]}

    dt_img = np.sort(rng.integers(0, n_images, n_dets))
    first_gt = np.concatenate([[0], np.cumsum(n_gt)])
    has_gt = n_gt[dt_img] > 0
    hit = has_gt & (rng.random(n_dets) < 0.6)
    pick = first_gt[dt_img] + (rng.random(n_dets) * np.maximum(n_gt[dt_img], 1)).astype(int)
    box = np.empty((n_dets, 4))
    src = gt_box[pick[hit]]
    box[hit, :2] = src[:, :2] + rng.normal(0, 0.1, (hit.sum(), 2)) * src[:, 2:]
    box[hit, 2:] = src[:, 2:] * np.exp(rng.normal(0, 0.15, (hit.sum(), 2)))
    size = sizes[dt_img[~hit], None]
    box[~hit, 2:] = np.exp(rng.uniform(np.log(3), np.log(200), ((~hit).sum(), 2)))
    box[~hit, :2] = rng.uniform(0, 1, ((~hit).sum(), 2)) * np.maximum(size - box[~hit, 2:], 1)
    box = np.round(box, 2)
    score = np.where(hit, rng.beta(5, 2, n_dets), rng.beta(2, 5, n_dets)).astype(np.float32).astype(float)
    dt = [{"image_id": int(dt_img[k]) + 1, "category_id": 1, "bbox": box[k].tolist(), "score": float(score[k])}
          for k in range(n_dets)]
    return gt, dt


def ours(gt: dict[str, Any], dt: list[dict[str, Any]]) -> list[float]:
    from benchbench.metrics import evaluate

    stats = evaluate(gt, dt)
    return [stats[n] for n in STAT_NAMES]


def pycocotools(gt: dict[str, Any], dt: list[dict[str, Any]]) -> list[float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):  # it prints progress and the summary
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(dt), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(x) for x in ev.stats[:12]]


def faster_coco_eval(gt: dict[str, Any], dt: list[dict[str, Any]]) -> list[float]:
    from faster_coco_eval import COCO, COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(gt)
        ev = COCOeval_faster(coco_gt, coco_gt.loadRes(dt), iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(x) for x in ev.stats[:12]]


def hotcoco(gt: dict[str, Any], dt: list[dict[str, Any]]) -> list[float]:
    import hotcoco as hc

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = hc.COCO(gt)
        ev = hc.COCOeval(coco_gt, coco_gt.load_res(dt), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(x) for x in ev.stats[:12]]


EVALUATORS: dict[str, Callable[[dict[str, Any], list[dict[str, Any]]], list[float]]] = {
    "benchbench.metrics": ours, "pycocotools": pycocotools, "faster-coco-eval": faster_coco_eval,
    "hotcoco": hotcoco}


# Evaluators timed this many times more often than the slow ones: their figures are a fraction of
# a second, so a load spike moves one sample a lot; more interleaved repeats steady the medians.
FAST = {"benchbench.metrics": 3, "hotcoco": 3}


def measure(gt: dict[str, Any], dt: list[dict[str, Any]], repeats: int) -> dict[str, dict[str, Any]]:
    """Interleaved repeats of every evaluator (a load spike then hits all of them alike).

    The deep copies are garbage-collected before the clock starts: a collection that the next
    allocations would trigger charges one evaluator for the other copies' objects.
    """
    wall: dict[str, list[float]] = {n: [] for n in EVALUATORS}
    cpu: dict[str, list[float]] = {n: [] for n in EVALUATORS}
    stats: dict[str, Any] = {}
    tiny_gt, tiny_dt = make_set(10, 100, seed=1)
    for name, fn in EVALUATORS.items():  # warm-up: imports and extension loading stay out of the timing
        try:
            fn(copy.deepcopy(tiny_gt), copy.deepcopy(tiny_dt))
        except ImportError as exc:
            stats[name] = f"not installed: {exc}"
    for i in range(repeats * max(FAST.values())):
        for name, fn in EVALUATORS.items():
            if isinstance(stats.get(name), str) or i >= repeats * FAST.get(name, 1):
                continue  # not installed / failed (said once), or this one's repeats are done
            g, d = copy.deepcopy(gt), copy.deepcopy(dt)
            gc.collect()
            try:
                one, stats[name] = core.time_call(lambda fn=fn, g=g, d=d: fn(g, d), 1)
            except ImportError as exc:
                stats[name] = f"not installed: {exc}"
                continue
            wall[name] += one["samples"]
            cpu[name].append(one["cpu_median"])
    out = {}
    for name in EVALUATORS:
        if isinstance(stats.get(name), str):
            out[name] = {"error": stats[name]}
        else:
            out[name] = core.summary_stats(wall[name]) | {"cpu_median": float(np.median(cpu[name])), "cpu": cpu[name],
                                                          "stats": dict(zip(STAT_NAMES, stats[name], strict=True))}
    return out


def cell_case(n_test: int = 300, n_val: int = 100, seed: int = 0) -> tuple[Any, list[Any], Any, list[Any]]:
    """Simulated test and validation frames (with their crack masks) and detector-like predictions:
    0-2 jittered copies of each crack box (1 px sd, so many fail IoU 0.5) and 0-3 false alarms a frame."""
    from benchbench.api import Box
    from benchbench.data.simulate import simulate_frames

    rng = np.random.default_rng(seed)

    def predict(frames):
        out = []
        for f in frames:
            boxes = []
            for b in f.boxes or ():
                for _ in range(rng.integers(0, 3)):
                    j = rng.normal(0, 1.0, 4)
                    boxes.append(Box(b.x + j[0], b.y + j[1], max(1.0, b.w + j[2]), max(1.0, b.h + j[3]),
                                     float(rng.random())))
            boxes += [Box(*rng.uniform(0, 100, 2), *rng.uniform(3, 30, 2), score=float(rng.random() * 0.6))
                      for _ in range(rng.integers(0, 4))]
            out.append(boxes)
        return out

    test, val = simulate_frames(n_test, seed + 1), simulate_frames(n_val, seed + 2)
    return test, predict(test), val, predict(val)


def schema1_metrics(test: Any, preds: list[Any], n_boot: int) -> None:
    """The metric set of results schema 1 (before issue #14), on today's evaluator: the reference
    for what the crack-scale metrics add to a cell's evaluation."""
    from benchbench.data.export import to_coco_dict
    from benchbench.method.evaluation import predictions_to_coco
    from benchbench.metrics import CocoEval, frame_metrics, grouped_bootstrap_ci

    gt, dt, groups = to_coco_dict(test), predictions_to_coco(preds), [f.group for f in test]
    std = CocoEval.from_coco(gt, dt)
    std.stats()
    low = CocoEval.from_coco(gt, dt, iou_thresholds=[0.1, 0.3])
    for ev, fn in ((std, lambda e, s: e.stat("AP", s)), (std, lambda e, s: e.stat("AP50", s)),
                   (low, lambda e, s: e.ap_at(0.1, s)), (low, lambda e, s: e.ap_at(0.3, s))):
        fn(ev, None)
        grouped_bootstrap_ci(ev, groups, fn, n_boot=n_boot)
    frame_metrics([f.label == "crack" for f in test], [max((b.score for b in p), default=0.0) for p in preds])


def core_metrics(test: Any, preds: list[Any], n_boot: int) -> None:
    """The schema-1 metric set the way evaluate_predictions computes it today (one bootstrap pass
    for every CI): a cell's evaluation without the crack-scale extras (size ranges, error
    breakdown, operating point, mask scores, per-specimen slices)."""
    from benchbench.data.export import to_coco_dict
    from benchbench.method.evaluation import predictions_to_coco
    from benchbench.metrics import DEFAULT_IOU_THRESHOLDS, CocoEval, frame_metrics
    from benchbench.metrics.bootstrap import grouped_bootstrap_cis

    gt, dt, groups = to_coco_dict(test), predictions_to_coco(preds), [f.group for f in test]
    CocoEval.from_coco(gt, dt).stats()
    coco_ious = tuple(DEFAULT_IOU_THRESHOLDS.tolist())
    ev = CocoEval.from_coco(gt, dt, iou_thresholds=sorted({*coco_ious, 0.1, 0.3}))
    aps = ev.ap_function([(coco_ious, None), (0.5, None), (0.1, None), (0.3, None)])
    aps(None)
    grouped_bootstrap_cis(groups, len(test), aps, n_boot=n_boot)
    frame_metrics([f.label == "crack" for f in test], [max((b.score for b in p), default=0.0) for p in preds])


def cell_overhead(repeats: int, n_boot: int = 1000) -> dict[str, Any]:
    """CPU seconds of one cell's evaluation with every metric vs the schema-1 metric set (computed
    as today's code does and as schema 1's code did), interleaved repeats."""
    from benchbench.method.evaluation import evaluate_predictions
    from benchbench.metrics import masks

    test, preds, val, val_preds = cell_case()
    masks._mask_and_skeleton.cache_clear()
    masks._frame_cracks.cache_clear()
    t = time.process_time()
    evaluate_predictions(test, preds, iou_thresholds=[0.1, 0.3], n_boot=n_boot, val=val, val_preds=val_preds)
    cold = time.process_time() - t  # the first cell of a worker loads and thins the test masks
    runs: dict[str, Callable[[], Any]] = {
        "core": lambda: core_metrics(test, preds, n_boot), "schema1": lambda: schema1_metrics(test, preds, n_boot),
        "all": lambda: evaluate_predictions(test, preds, iou_thresholds=[0.1, 0.3], n_boot=n_boot, val=val,
                                            val_preds=val_preds)}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            t = time.process_time()
            fn()
            cpu[name].append(time.process_time() - t)
    # The ratio of each repeat's back-to-back pair, then the median: load from other processes drifts
    # over a run, and a pair shares it, where the two medians may not.
    paired = np.array(cpu["all"]) / np.array(cpu["core"])
    return {"core_cpu": float(np.median(cpu["core"])), "schema1_cpu": float(np.median(cpu["schema1"])),
            "all_cpu": float(np.median(cpu["all"])), "first_cell_cpu": cold, "n_test": len(test), "n_val": len(val),
            "n_boot": n_boot, "repeats": repeats, "paired_ratio_median": float(np.median(paired)),
            "paired_ratios": [round(float(r), 4) for r in paired]}


def max_diff(a: dict[str, float], b: dict[str, float]) -> float:
    return max(abs(a[n] - b[n]) for n in STAT_NAMES)


def run(quick: bool = False, profile: bool = True) -> BenchResult:
    res = BenchResult(NAME)
    n_images, n_dets, repeats = (500, 5_000, 1) if quick else (5_000, 50_000, 3)
    gt, dt = make_set(n_images, n_dets)
    label = f"{n_images:,} images / {n_dets:,} predictions"
    res.notes.append(f"{label}, {len(gt['annotations']):,} gt boxes, 1 category; median of {repeats} interleaved "
                     f"repeats ({repeats * FAST['hotcoco']} for benchbench.metrics and hotcoco); wall time "
                     "(cpu_median in details)")
    m = measure(gt, dt, repeats)
    mine = m["benchbench.metrics"]
    if "error" in mine:
        raise RuntimeError(f"benchbench.metrics failed: {mine['error']}")
    refs = {n: v for n, v in m.items() if n != "benchbench.metrics" and "error" in v}
    for n, v in refs.items():
        res.notes.append(f"{n} skipped: {v['error']}")
    others = {n: v for n, v in m.items() if n != "benchbench.metrics" and "error" not in v}
    fastest = min(others, key=lambda n: others[n]["median"]) if others else None
    speed = res.add(Figure(
        NAME, f"COCO eval time, {label}", mine["median"], "s", f"{fastest} (fastest)" if fastest else None,
        others[fastest]["median"] if fastest else None, target="<= 1.0x the fastest of pycocotools, "
        "faster-coco-eval and hotcoco", details={"timings": m, "ratio_vs": {n: mine["median"] / v["median"]
                                                                for n, v in others.items()},
                                     "cpu_ratio_vs": {n: mine["cpu_median"] / v["cpu_median"]
                                                      for n, v in others.items() if v["cpu_median"]},
                                     "met_on_cpu_time": bool(others) and all(
                                         mine["cpu_median"] <= v["cpu_median"] for v in others.values())},
        skipped=None if fastest else "none of pycocotools, faster-coco-eval, hotcoco is installed"))
    speed.met = None if fastest is None else bool(speed.ratio is not None and speed.ratio <= 1.0)
    for name, v in others.items():
        diff = max_diff(mine["stats"], v["stats"])
        worst = max(STAT_NAMES, key=lambda s: abs(mine["stats"][s] - v["stats"][s]))
        res.add(Figure(NAME, f"max |stat difference| vs {name}", diff, "", name, None,
                       target=f"<= {MAX_DIFF:g}", met=diff <= MAX_DIFF,
                       details={"worst_stat": worst, "ours": mine["stats"][worst], "theirs": v["stats"][worst]}))
    cell = cell_overhead(1 if quick else 15, n_boot=200 if quick else 1000)
    res.add(Figure(NAME, f"cell evaluation CPU time, all metrics ({cell['n_test']} simulated test frames, "
                   f"bootstrap {cell['n_boot']})", cell["all_cpu"], "s", "same cell without the crack-scale extras",
                   cell["core_cpu"], target="<= 1.2x the cell without the extras (issue #14), median paired ratio",
                   met=cell["paired_ratio_median"] <= 1.2,
                   details=cell | {"ratio_vs_schema1_code": cell["all_cpu"] / cell["schema1_cpu"]}))
    if profile and speed.met is False:
        res.profiles[speed.name] = core.profile_call(lambda: ours(copy.deepcopy(gt), copy.deepcopy(dt)))
    return res
