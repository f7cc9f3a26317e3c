"""A cell's worst test frames, drawn: ground truth (boxes green, crack mask tinted green), the
boxes kept at the operating threshold (red) and the rest (dark red), each captioned with its error
counts (from the AP50 matching of every box). PIL only.

Written by the cell job next to its predictions, and again by `bench rescore` (the test pixels are at
hand in both), shown by report.html; the frames are the error breakdown's ``worst_frames``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchbench.drawing.samples import frame_tile
from benchbench.frames import Box, FrameSet
from benchbench.metrics.masks import frame_mask
from benchbench.records.store import atomic_write_bytes

TILE = 192  # px per frame
CAPTION = 30  # px of text under each frame
SHORT = {"missed": "missed", "background": "false alarm", "localisation": "poor box", "duplicate": "duplicate"}


def worst_frames_png(test: FrameSet, preds: Sequence[Sequence[Box]], metrics: dict[str, Any],
                     path: Path) -> Path | None:
    """Draw the worst test frames of one cell into ``path``; None when no frame has an error."""
    from PIL import Image, ImageDraw  # PIL: heavy, off the start-up path

    worst = (metrics.get("errors") or {}).get("worst_frames") or []
    if not worst:
        return None
    threshold = (metrics.get("operating_point") or {}).get("threshold", 0.5)
    index = {f.stem: i for i, f in enumerate(test)}
    sheet = Image.new("RGB", (len(worst) * (TILE + 4) + 4, TILE + CAPTION + 8), (20, 20, 20))
    draw = ImageDraw.Draw(sheet)
    for c, w in enumerate(worst):
        i = index[w["frame"]]
        kept = [b for b in preds[i] if b.score > threshold]
        rest = [b for b in preds[i] if b.score <= threshold]
        x = 4 + c * (TILE + 4)
        sheet.paste(frame_tile(test[i], TILE, kept, frame_mask(test[i]), rest), (x, 4))
        errors = ", ".join(f"{w[k]} {name}" for k, name in SHORT.items() if w.get(k))
        draw.text((x + 2, TILE + 7), w["frame"][:30], fill=(230, 230, 230))
        draw.text((x + 2, TILE + 20), errors[:34], fill=(255, 190, 120))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue(), durable=False)  # redrawn by `bench rescore`, so never half a file
    return path


def write_gallery(test: FrameSet, preds: list[list[Box]], result: dict[str, Any], work_dir: Path) -> str | None:
    """Draw the cell's worst test frames into ``work_dir`` and list them in its artifacts; the problem, if any."""
    try:
        if worst_frames_png(test, preds, result["metrics"], Path(work_dir) / "worst_frames.png"):
            result["artifacts"]["worst_frames"] = f"work/{result['id']}/worst_frames.png"
    except Exception as exc:  # a picture must never cost a cell its result
        return f"{type(exc).__name__}: {exc}"
    return None
