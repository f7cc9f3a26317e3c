"""The crack-scale parts of a report: tables of the schema-2 metrics, their plots, PR curves and galleries.

Each function reads the cells of results.json (and, for PR curves, the saved predictions) and
returns rows or writes PNGs under the run folder; report.build arranges them into sections.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.analysis.report.markdown import Markdown, md_text
from benchbench.analysis.report.table import fmt_ci, fmt_guidance, fmt_num
from benchbench.metrics.coco import CocoEval
from benchbench.records.summary import defined, setting_of

ERROR_COLUMNS = ("localisation", "duplicate", "background", "missed")


def setting_label(setting: tuple[Any, ...]) -> str:
    det, gen, guid, ratio = setting
    return f"{det} · {gen or 'real only'}" + ("" if guid is None else f" g{fmt_guidance(guid)}") + f" · r{ratio:g}"


def _ok(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in cells if c.get("status") == "ok" and "errors" in (c.get("metrics") or {})]


def _by_setting(cells: list[dict[str, Any]]) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for c in _ok(cells):
        out[setting_of(c)].append(c)
    return out


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if defined(v)]
    return float(np.mean(vals)) if vals else None


def cell_rows(cells: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Per cell: operating point, mask scores, error counts and ΔAP50 per error type."""
    rows = []
    for c in _ok(cells):
        m = c["metrics"]
        op, masks, err = m["operating_point"], m.get("masks") or {}, m["errors"]
        source = "val" if op.get("val_f1") is not None else "matrix"
        rows.append([md_text(c["id"]), f"{op['threshold']:.3f} ({source})", fmt_num(op["crack"]["precision"]),
                     fmt_num(op["crack"]["recall"]), fmt_ci({"value": op["crack"]["f1"], "ci": op["crack"]["f1_ci"]}),
                     *(fmt_ci(masks.get(k)) if masks.get("available", True) else "–"
                       for k in ("hit_AP", "pixel_recall", "crack_recall", "box_precision")),
                     fmt_num(op.get("ece")),
                     *(f"{err['counts'][k]} / {fmt_num(err['delta_ap'][k])}" for k in ERROR_COLUMNS)])
    headers = ["cell", "threshold (chosen on)", "crack P", "crack R", "crack F1 [95% CI]", "hit AP (masks)",
               "pixel recall", "crack recall (hit)", "box precision (hit)", "ECE",
               *(f"{k}: n / ΔAP50" for k in ERROR_COLUMNS)]
    return headers, rows


def size_rows(cells: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Per setting and size range: cracks in range, mAP50 and the lowest-IoU AP, mean over seeds."""
    rows, lows = [], set()
    for setting, cs in _by_setting(cells).items():
        ranges = cs[0]["metrics"]["sizes"]["ranges"]
        low = next((k for k in ranges[next(iter(ranges))] if k.startswith("AP")), None) if ranges else None
        lows.add(low)
        for r, v in ranges.items():
            lo, hi = v["bounds"]
            # names from results.json (tamperable): literal text in report.md
            bounds = f"[{lo:g}, {'∞' if hi is None else f'{hi:g}'}]"
            rows.append([md_text(setting_label(setting)), Markdown(f"{md_text(r)} {bounds}"), v["n_gt"],
                         fmt_num(_mean([c["metrics"]["sizes"]["ranges"][r]["mAP50"]["value"] for c in cs])),
                         fmt_num(_mean([(c["metrics"]["sizes"]["ranges"][r].get(low) or {}).get("value")
                                     for c in cs])) if low else "–"])
    low_name = next(iter(lows - {None}), "AP at the lowest IoU")
    return ["setting", "size range", "cracks", "mAP50", low_name], rows


def error_means(cells: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, float]]:
    """Setting -> mean ΔAP50 per error type over seeds."""
    return {s: {k: _mean([c["metrics"]["errors"]["delta_ap"][k] for c in cs]) or 0.0 for k in ERROR_COLUMNS}
            for s, cs in _by_setting(cells).items()}


def group_rows(cells: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Per setting and test specimen, mean over the seeds (of the fold testing it): counts, mAP50,
    lowest-IoU AP, crack F1, mask hits."""
    rows = []
    low = None
    for setting, cs in _by_setting(cells).items():
        groups: dict[str, Any] = {}  # with specimen folds each cell holds its fold's specimens only
        for c in cs:
            for g, v in c["metrics"]["groups"].items():
                groups.setdefault(g, v)
        for g, first in groups.items():
            low = low or next((k for k in first if k.startswith("AP")), None)
            per = [c["metrics"]["groups"][g] for c in cs if g in c["metrics"]["groups"]]
            rows.append([md_text(setting_label(setting)), md_text(g), first["n_frames"], first["n_cracks"],
                         fmt_num(_mean([p.get("mAP50") for p in per])),
                         fmt_num(_mean([p.get(low) for p in per])) if low else "–",
                         fmt_num(_mean([(p.get("masks") or {}).get("hit_AP") for p in per])),
                         fmt_num(_mean([(p.get("operating_point") or {}).get("f1") for p in per])),
                         fmt_num(_mean([(p.get("masks") or {}).get("crack_recall") for p in per]))])
    return ["setting", "specimen", "frames", "cracks", "mAP50", low or "low-IoU AP", "hit AP (masks)",
            "crack F1 (op)", "crack recall (hit)"], rows


def pr_curves(root: Path, cells: list[dict[str, Any]], ious: tuple[float, ...]) -> dict[float, dict[str, Any]]:
    """Ratio -> {(detector, training data) label: {IoU: precision (101,), mean over seeds (and folds)}} from
    the saved predictions, each against its cell's ground truth (its fold's); cells without them are left out."""
    gts: dict[str, dict[str, Any] | None] = {}
    acc: dict[float, dict[str, dict[float, list[np.ndarray]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list)))
    for c in cells:
        artifacts = c.get("artifacts") or {}
        rel, gt_rel = artifacts.get("predictions"), artifacts.get("ground_truth", "test_gt.json")
        if c.get("status") != "ok" or not rel:
            continue
        if gt_rel not in gts:
            gts[gt_rel] = _read_gt(root / gt_rel)
        gt = gts[gt_rel]
        if gt is None:
            continue
        try:
            dt = json.loads((root / rel).read_text())
        except (OSError, ValueError):
            continue
        ev = CocoEval.from_coco(gt, dt, iou_thresholds=sorted(ious))
        det, gen, guid, ratio = setting_of(c)
        label = f"{det} · {gen or 'real only'}" + ("" if guid is None else f" g{fmt_guidance(guid)}")
        for iou in ious:
            curve = ev.pr_curve(iou)
            if (curve >= 0).all():
                acc[ratio][label][iou].append(curve)
    return {r: {lab: {iou: np.mean(v, axis=0) for iou, v in d.items()} for lab, d in labs.items()}
            for r, labs in acc.items()}


def _read_gt(path: Path) -> dict[str, Any] | None:
    """A run's COCO test ground truth without its groups, or None when unreadable."""
    try:
        gt = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    gt.pop("groups", None)
    return gt


def galleries(cells: list[dict[str, Any]]) -> list[tuple[str, Path]]:
    """(cell id, worst-frames PNG) for the first seed of each setting that has one."""
    out, seen = [], set()
    for c in sorted(_ok(cells), key=lambda c: c["cell"]["seed"]):
        rel = (c.get("artifacts") or {}).get("worst_frames")
        if rel and setting_of(c) not in seen:
            seen.add(setting_of(c))
            out.append((c["id"], Path(rel)))
    return out
