"""The quality bar of a generated set: are its cracked frames cracks a detector can learn from?

Three numbers per set, from the scores and the run's cells: the cracked frames' Fréchet distance in the
``cnn`` space (at most the physics sets' of the same run), their coverage there (at least 0.3), and the
share of its cracked frames recognised as cracked (at least half): by the teacher for frames a teacher
labelled (the share it kept, per detector and seed; for frames drawn around a mask also how many of its
boxes lie on that mask's crack), by the mask rule for frames that carry a crack mask (the mask gives a
box), by the frame's own boxes otherwise.

The teacher's share is read beside the same rule on the fold's held-out REAL cracked frames (the teacher's
own predictions there, from its real-only cell): the rule's threshold is a quantile of its scores on the
training cracks, so on new specimens a real crack may pass far less often than the three in four it
passes on the frames it fitted. That row is a reference, not a check: the bar stays at half.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchbench.frames import FrameSet
from benchbench.method.teacher import frame_mask_boxes, passes
from benchbench.metrics.cocofiles import load_coco_json, load_results_json

COVERAGE_MIN = 0.3
RECOGNISED_MIN = 0.5
QUALITY_EXTRACTOR = "cnn"


def recognised(crack: FrameSet, entry: dict[str, Any], cells: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The share of a set's cracked frames recognised as cracked, the rule used, and the counts."""
    if not len(crack):
        return None
    taught = _teacher_counts(entry, cells)  # first: a taught row's frames may carry masks too (ddpm-masked)
    if taught:
        kept, frames = sum(t["kept"] for t in taught.values()), sum(t["frames"] for t in taught.values())
        out = {"rule": "teacher", "value": round(kept / frames, 4) if frames else None, "recognised": kept,
               "frames": frames, "by_teacher": {k: f"{t['kept']}/{t['frames']}" for k, t in sorted(taught.items())}}
        if all("on_mask" in t for t in taught.values()):  # frames drawn around masks: is the crack there?
            out["on_mask"] = sum(int(t["on_mask"]) for t in taught.values())
        return out
    if all(isinstance(f.meta.get("mask"), str) for f in crack):
        n = sum(bool(frame_mask_boxes(f, entry.get("generator", "?"))) for f in crack)
        return {"rule": "mask", "value": round(n / len(crack), 4), "recognised": n, "frames": len(crack)}
    if all(f.boxes is not None for f in crack):
        n = sum(bool(f.boxes) for f in crack)
        return {"rule": "boxes", "value": round(n / len(crack), 4), "recognised": n, "frames": len(crack)}
    return None


def _teacher_counts(entry: dict[str, Any], cells: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The teacher record (kept, frames labelled, and for frames drawn around masks on_mask) per teacher
    (detector/seed) of the set, from its cell that labelled the most frames."""
    out: dict[str, dict[str, Any]] = {}
    for c in cells:
        cell, t = c.get("cell") or {}, c.get("teacher")
        if not t or (cell.get("generator"), cell.get("guidance"), cell.get("seed"), c.get("fold")) != \
                (entry.get("generator"), entry.get("guidance"), entry.get("seed"), entry.get("fold")):
            continue
        who = f"{cell.get('detector')}/s{cell.get('seed')}"
        if t["frames"] > out.get(who, {"frames": -1})["frames"]:
            out[who] = t
    return out


def real_recognised(cells: list[dict[str, Any]], run_dir: str | Path, fold: int | None) -> dict[str, Any] | None:
    """The share of the fold's held-out real cracked frames the teacher recognises by the rule it labelled
    the synthetic frames with (its threshold, from a cell it labelled), per teacher (detector/seed) and
    pooled; None when no teacher labelled in this fold or its real-only predictions are not in ``run_dir``."""
    thresholds = {}
    for c in cells:
        cell, t = c.get("cell") or {}, c.get("teacher")
        if t and c.get("fold") == fold and t.get("threshold") is not None:
            thresholds[(cell.get("detector"), cell.get("seed"))] = float(t["threshold"])
    counts: dict[str, tuple[int, int]] = {}
    for c in cells:
        cell, art = c.get("cell") or {}, c.get("artifacts") or {}
        key = (cell.get("detector"), cell.get("seed"))
        if (c.get("fold") != fold or cell.get("generator") is not None or key not in thresholds
                or c.get("status") != "ok" or not art.get("predictions") or not art.get("ground_truth")):
            continue
        gt_path, dt_path = Path(run_dir) / art["ground_truth"], Path(run_dir) / art["predictions"]
        if not (gt_path.is_file() and dt_path.is_file()):
            continue
        gt = load_coco_json(gt_path)
        top: dict[Any, float] = {}
        for d in load_results_json(dt_path, gt):
            top[d["image_id"]] = max(top.get(d["image_id"], 0.0), float(d["score"]))
        cracked = {a["image_id"] for a in gt["annotations"]}
        n = sum(passes(top.get(i, 0.0), thresholds[key]) for i in cracked)
        counts[f"{key[0]}/s{key[1]}"] = (n, len(cracked))
    if not counts:
        return None
    n, total = sum(a for a, _ in counts.values()), sum(b for _, b in counts.values())
    return {"rule": "teacher", "value": round(n / total, 4) if total else None, "recognised": n, "frames": total,
            "by_teacher": {k: f"{a}/{b}" for k, (a, b) in sorted(counts.items())}}


def quality(section: dict[str, Any], real_test: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per set: the cracked frames' FD and coverage in the ``cnn`` space, the recognised share, and whether
    each meets its bar (None where the number is missing, e.g. no physics set to compare the FD with).
    ``real_test`` (``real_recognised``) adds the held-out real frames' row: their FD, coverage and recognised
    share, the reference a generator drawing new real specimens would reach, with no check."""
    def crack_scores(s: dict[str, Any]) -> dict[str, Any]:
        return ((s.get("scores") or {}).get(QUALITY_EXTRACTOR) or {}).get("crack") or {}

    physics = [crack_scores(s).get("fd") for s in section.get("sets", []) if s.get("plugin") == "physics"]
    physics = [v for v in physics if v is not None]
    fd_bar = float(np.mean(physics)) if physics else None
    rows = []
    for s in section.get("sets", []):
        sc, rec = crack_scores(s), s.get("recognised") or {}
        fd, cov, share = sc.get("fd"), sc.get("coverage"), rec.get("value")
        checks = {"fd": None if fd is None or fd_bar is None else fd <= fd_bar,
                  "coverage": None if cov is None else cov >= COVERAGE_MIN,
                  "recognised": None if share is None else share >= RECOGNISED_MIN}
        rows.append({"id": s["id"], "fd": fd, "coverage": cov, "recognised": share, "rule": rec.get("rule"),
                     "on_mask": rec.get("on_mask"),
                     "checks": checks, "meets_bar": all(v is True for v in checks.values())})
    out = {"extractor": QUALITY_EXTRACTOR, "fd_bar": fd_bar, "coverage_min": COVERAGE_MIN,
           "recognised_min": RECOGNISED_MIN, "sets": rows}
    ref = crack_scores(section.get("reference") or {})
    if ref or real_test:
        out["real_test"] = {"fd": ref.get("fd"), "coverage": ref.get("coverage"),
                            "recognised": (real_test or {}).get("value"), "rule": (real_test or {}).get("rule"),
                            "recognised_counts": real_test}
    return out
