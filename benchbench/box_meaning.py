"""Do a detector's boxes mean what the harness reads? The conformance kit's meaning check.

Types and bounds are not enough: boxes given as ``x1, y1, x2, y2``, in 0-1 coordinates, with x
and y swapped, centred, or listed in another frame order all pass a type check and score a
silent mAP of zero in a run. After a short fit on an easy simulated set, the top-scored box of
each cracked test frame must overlap one of its true boxes at IoU :data:`IOU` on most of those
frames; when it does not, the usual mistakes are undone one at a time and the first that makes
the boxes hit is named as the probable cause.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from benchbench.frames import Box, Frame

IOU = 0.1  # lenient on purpose: cracks are 2-18 px wide, a short fit localises them roughly
MOST = 0.5  # share of the cracked frames whose top box must hit

Boxes = Sequence[Sequence[Box]]


def iou(a: Box, b: Box) -> float:
    ix = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    iy = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    inter = max(0.0, ix) * max(0.0, iy)
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union > 0 else 0.0


def top_box(boxes: Sequence[Box]) -> Box | None:
    return max(boxes, key=lambda b: b.score) if boxes else None  # max keeps the first of equal scores


def hits(frames: Sequence[Frame], top: Sequence[Box | None]) -> int:
    """How many of ``frames`` have their ``top`` box at IoU >= :data:`IOU` with one of their true boxes."""
    return sum(1 for f, b in zip(frames, top, strict=True)
               if b is not None and any(iou(b, t) >= IOU for t in f.boxes or ()))


# Each mistake as the function that undoes it: what the detector meant, from what it returned.
MISTAKES: list[tuple[str, Callable[[Box, Frame], Box]]] = [
    ("boxes look like (x1, y1, x2, y2): Box takes (x, y, width, height) — use w = x2 - x1, h = y2 - y1",
     lambda b, f: Box(b.x, b.y, b.w - b.x, b.h - b.y, b.score)),
    ("boxes look like normalised 0-1 coordinates: Box takes pixels — multiply x, w by the frame width and "
     "y, h by its height", lambda b, f: Box(b.x * f.width, b.y * f.height, b.w * f.width, b.h * f.height, b.score)),
    ("boxes look like (cx, cy, w, h) centres: Box takes the top-left corner — use x = cx - w/2, y = cy - h/2",
     lambda b, f: Box(b.x - b.w / 2, b.y - b.h / 2, b.w, b.h, b.score)),
    ("x and y look swapped (rows for columns, e.g. an H x W array read as W x H): Box takes x = column, "
     "y = row", lambda b, f: Box(b.y, b.x, b.h, b.w, b.score)),
]


def probable_cause(frames: Sequence[Frame], preds: Boxes) -> str | None:
    """Why the top boxes miss the cracks of the test ``frames`` (``preds``: one list per frame, in
    order), or None when they hit on most cracked frames (or none of the frames has a known box)."""
    cracked = [i for i, f in enumerate(frames) if f.boxes]
    if not cracked:
        return None
    need = _need(len(cracked))
    truth = [frames[i] for i in cracked]
    top = [top_box(preds[i]) for i in cracked]
    got = hits(truth, top)
    if got >= need:
        return None
    empty = sum(1 for b in top if b is None)
    if not any(preds):
        return (f"predict returned no box on any of the {len(preds)} test frames: a score threshold "
                "that drops everything, or a fit that learnt nothing — return the ranked candidates, low "
                "scores too (mAP needs them)")
    for cause, undo in MISTAKES:
        fixed = [None if b is None else _valid(undo(b, f)) for b, f in zip(top, truth, strict=True)]
        if hits(truth, fixed) >= need:
            return cause
    order = _order_mixup(frames, preds, cracked, need)
    if order:
        return order
    return (f"the top box overlaps a true box (IoU >= {IOU}) on only {got} of {len(top)} cracked test frames "
            f"({empty} without any box): the short fit did not learn, or the boxes do not follow Box's "
            "convention (pixels, top-left x, y, width, height, one list per input frame in order)")


def _valid(b: Box) -> Box | None:
    return b if b.w > 0 and b.h > 0 else None


def _need(n: int) -> int:
    return max(1, int(n * MOST) + 1) if n > 1 else 1  # more than half


def _order_mixup(frames: Sequence[Frame], preds: Boxes, cracked: list[int], need: int) -> str | None:
    """A cause when the box lists fit the truth of *other* frames: reversed, or some other order."""
    top = [top_box(b) for b in preds]
    last = len(frames) - 1
    if hits([frames[i] for i in cracked], [top[last - i] for i in cracked]) >= need:
        return "the box lists come in reverse frame order: return one list per input frame, in the input order"
    elsewhere = sum(1 for i in cracked if any(j != i and top[j] is not None and any(
        iou(top[j], t) >= IOU for t in frames[i].boxes or ()) for j in range(len(frames))))
    if elsewhere >= need:
        return ("the boxes match other frames' cracks: the lists are not in input frame order (a dict, set, "
                "sorted file list or batching that reorders?) — return one list per input frame, in order")
    return None


def outside_cause(b: Box, frame: Frame, tol: float) -> str:
    """A hint for a box that pokes out of its frame (by more than ``tol`` px), when a usual mistake explains it."""
    inside = lambda c: (c.x >= -tol and c.y >= -tol and c.x + c.w <= frame.width + tol
                        and c.y + c.h <= frame.height + tol)
    for cause, undo in MISTAKES:
        fixed = _valid(undo(b, frame))
        if fixed is not None and inside(fixed) and not cause.startswith("boxes look like normalised"):
            return f"; probable cause: {cause}"
    return ""
