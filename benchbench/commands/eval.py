"""`bench eval GT.json PRED.json`."""

from __future__ import annotations

import json

import click


@click.command("eval")
@click.argument("gt", type=click.Path(dir_okay=False))
@click.argument("pred", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help='Print {"stats": {name: value}}.')
@click.option("--iou", "ious", multiple=True, type=float, help="Also report AP at these IoU thresholds.")
def eval_cmd(gt: str, pred: str, as_json: bool, ious: tuple[float, ...]) -> None:
    """COCO bbox evaluation: the 12 pycocotools stats (AP, AP50, ..., ARl)."""
    from benchbench.errors import UserError
    from benchbench.metrics.coco import CocoEval
    from benchbench.metrics.cocofiles import load_coco_json, load_results_json

    try:
        g, d = load_coco_json(gt), load_results_json(pred)
        ev = CocoEval.from_coco(g, d)
        stats = ev.stats()
        extra = {}
        if ious:
            low = CocoEval.from_coco(g, d, iou_thresholds=sorted(ious))
            extra = {f"AP@{t:g}": low.ap_at(t) for t in ious}
    except ValueError as exc:
        raise UserError(str(exc), fix="give a COCO ground-truth JSON and a COCO results JSON") from None
    if as_json:
        click.echo(json.dumps({"stats": stats, **({"iou": extra} if extra else {})}))
        return
    for name, v in {**stats, **extra}.items():
        click.echo(f"{name:>8} {v: .4f}")
