"""`bench rescore`: a finished run's metrics again from its saved predictions, without refitting.

One run is made per module (simulated frames written in FLYD-S's masks layout, so the mask metrics
read the frames' mask paths; the `classic` detector; a validation split); each test works on a copy.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from benchbench.cli import main

RUN = Path("results/rs")
MATRIX = """\
name: rs
seed: [0]
data: {dataset: flyd, root: data, layout: masks}
split: {test_fraction: 0.3, val_fraction: 0.25}
generators: [{name: physics, plugin: physics}]
detectors: [{name: classic, plugin: classic}]
axes: {synthetic_ratio: [0, 0.5]}
metrics: {iou_thresholds: [0.1], bootstrap: 20}
scores: {enabled: false}
samples: 0
"""


def bench(*args: str):
    return CliRunner().invoke(main, list(args))


def rescore(*args: str):
    return bench("rescore", str(RUN), "--cache-dir", "cache", *args)


def cells() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((RUN / "cells").glob("*.json"))}


def results() -> dict:
    return json.loads((RUN / "results.json").read_text())


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished run (2 cells) with its data, matrix and cache, in one folder."""
    from benchbench.data.simulate import simulate_frames, write_dataset

    base = tmp_path_factory.mktemp("rescore")
    write_dataset(simulate_frames(48, seed=0, size=64), base / "data", "masks")
    (base / "m.yaml").write_text(MATRIX)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(base)
        res = bench("run", "m.yaml", "--cache-dir", "cache", "--no-report", "--quiet")
        assert res.exit_code == 0, res.output
    return base


@pytest.fixture
def run(finished, tmp_path, monkeypatch) -> dict[str, dict]:
    """A copy of the finished run, the working directory where it was started; its cells as written."""
    shutil.copytree(finished, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    return cells()


def test_rescore_restores_tampered_metrics_exactly(run):
    assert len(run) == 2 and all(c["status"] == "ok" for c in run.values())
    assert all(c["metrics"]["masks"]["pixel_recall"]["value"] is not None for c in run.values())  # masks read
    junk = {"mAP50_95": {"value": 0.05}, "mAP50": {"value": 0.123, "ci": [0.0, 1.0]}}  # wrong values, valid shape
    for cid in run:
        (RUN / "cells" / f"{cid}.json").write_text(json.dumps({**run[cid], "metrics": junk}))
    data = results()
    (RUN / "results.json").write_text(json.dumps({**data, "cells": [{**c, "metrics": junk} for c in data["cells"]],
                                                  "summary": []}))
    res = rescore()
    assert res.exit_code == 0, res.output
    assert "2 cell(s) rescored, 0 skipped" in res.output
    after = cells()
    for cid, before in run.items():
        new = after[cid]
        assert new["metrics"] == before["metrics"], cid
        assert new["key"] == before["key"] and new["budget"] == before["budget"] and new["info"] == before["info"]
        assert {k: v for k, v in new["timings"].items() if k != "rescore"} == before["timings"]
        assert 0 < new["timings"]["rescore"] < 30
        assert set(new["rescored"]) == {"at", "benchbench", "git_commit", "schema_version"}
    out = results()
    assert [c["metrics"] for c in out["cells"]] == [run[c["id"]]["metrics"] for c in data["cells"]]
    assert out["summary"] == data["summary"] and out["run"]["rescored"]["cells"] == 2
    assert (RUN / "report.md").exists() and (RUN / "report.html").exists()  # as `bench report` writes them


def test_validation_predictions_choose_the_threshold_else_the_recorded_one_is_reused(run):
    cid = next(c for c in run if "__real__" in c)
    cell = run[cid]
    assert cell["artifacts"]["predictions_val"] == f"work/{cid}/predictions_val.json"
    assert (RUN / cell["artifacts"]["predictions_val"]).is_file()
    op = cell["metrics"]["operating_point"]
    assert op["source"] == "validation F1-max"
    path = RUN / "cells" / f"{cid}.json"

    def with_threshold(t: float) -> None:
        path.write_text(json.dumps({**cell, "metrics": {**cell["metrics"], "operating_point": {**op, "threshold": t}}}))

    # the validation predictions are there: the threshold is chosen on them again, not read back
    with_threshold(0.999)
    assert rescore("--no-report").exit_code == 0
    assert cells()[cid]["metrics"] == cell["metrics"]

    # without them, the threshold the cell recorded is reused: the same numbers
    (RUN / cell["artifacts"]["predictions_val"]).unlink()
    path.write_text(json.dumps(cell))
    assert "recorded threshold" in rescore("--dry-run").output
    res = rescore("--no-report")
    assert res.exit_code == 0, res.output
    new = cells()[cid]["metrics"]
    assert new["operating_point"].pop("source") == "validation F1-max, reused"
    old = dict(cell["metrics"], operating_point={k: v for k, v in op.items() if k != "source"})
    assert new == old
    # ... and it is the recorded one that counts
    with_threshold(0.999)
    assert rescore("--no-report").exit_code == 0
    assert cells()[cid]["metrics"]["operating_point"]["threshold"] == 0.999
    assert cells()[cid]["metrics"]["operating_point"]["crack"] != op["crack"]


def test_refuses_a_run_whose_data_changed(run):
    before = {p: p.read_bytes() for p in (RUN / "cells").glob("*.json")}
    name = json.loads((RUN / "test_gt.json").read_text())["images"][0]["file_name"]
    image = next(Path("data").rglob(name))
    pixels = np.asarray(Image.open(image)).copy()
    pixels[0, 0] = 255 - pixels[0, 0]
    Image.fromarray(pixels).save(image)
    res = rescore()
    assert res.exit_code == 2
    assert "results.json: run.data.manifest_hash:" in res.output and "fix:" in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in (RUN / "cells").glob("*.json")} == before

    gt = json.loads((RUN / "test_gt.json").read_text())
    gt["groups"][0] = "Sample99"
    (RUN / "test_gt.json").write_text(json.dumps(gt))
    res = rescore()
    assert res.exit_code == 2 and "test_gt.json:" in res.output

    (RUN / "results.json").unlink()
    res = rescore()
    assert res.exit_code == 2 and "results.json: no results.json here" in res.output


def test_a_cell_without_predictions_is_skipped_and_the_others_rescored(run):
    gone, kept = sorted(run, key=lambda c: "__real__" not in c)
    (RUN / run[gone]["artifacts"]["predictions"]).unlink()
    before = (RUN / "cells" / f"{gone}.json").read_bytes()
    res = rescore("--no-report")
    assert res.exit_code == 1
    assert f"skipped {gone}:" in res.output and "predictions.json is missing" in res.output
    assert "1 cell(s) rescored, 1 skipped" in res.output
    assert (RUN / "cells" / f"{gone}.json").read_bytes() == before
    after = cells()
    assert "rescored" in after[kept] and after[kept]["metrics"] == run[kept]["metrics"]
    assert {c["id"]: "rescored" in c for c in results()["cells"]} == {gone: False, kept: True}


def test_a_following_bench_run_reuses_every_rescored_cell(run):
    assert rescore("--no-report").exit_code == 0
    rescored = cells()
    res = bench("run", "m.yaml", "--cache-dir", "cache", "--no-report", "--quiet")
    assert res.exit_code == 0, res.output
    assert cells() == rescored  # a recomputed cell would have lost its `rescored` stamp
    assert all("rescored" in c for c in results()["cells"])


def test_an_interrupted_rescore_leaves_each_cell_old_or_new(run, monkeypatch):
    import benchbench.analysis.rescore
    from benchbench.analysis.rescore import open_run, rescore_run
    from benchbench.plugins import get_plugins
    from benchbench.records.cache import Cache

    saved = open_run(RUN, Cache("cache"), get_plugins())
    first, second = (r["id"] for r in saved.candidates)
    for cid in run:  # old metrics a rescore would change
        (RUN / "cells" / f"{cid}.json").write_text(json.dumps({**run[cid], "metrics": {"mAP50": {"value": 0.5}}}))
    saved = open_run(RUN, Cache("cache"), get_plugins())
    real = benchbench.analysis.rescore.evaluate_predictions
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(benchbench.analysis.rescore, "evaluate_predictions", interrupted)
    summary = rescore_run(saved)
    assert summary.interrupted and summary.rescored == [first]
    after = cells()
    assert after[first]["metrics"] == run[first]["metrics"] and "rescored" in after[first]
    assert after[second]["metrics"] == {"mAP50": {"value": 0.5}} and "rescored" not in after[second]
    assert [("rescored" in c) for c in results()["cells"]] == [True, False]
    assert not list((RUN / "cells").glob(".*.tmp"))
