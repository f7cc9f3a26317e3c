"""The detectron2 plugin end to end: a missing install, `bench run` on simulated frames, and a fit on
real FLYD-S specimens that must beat the untrained model on a held-out one.

Skipped where detectron2 or the plugin is not installed (detectron2 has no index distribution: `make
install` takes the wheel in ../shared/wheels/ when it is there).
"""

import json
import sys
import zipfile

import pytest
from click.testing import CliRunner

from benchbench.cli import main
from benchbench.testing import torch_threads

pytest.importorskip("benchbench_detectron2", reason="the benchbench-detectron2 plugin is not installed")

MATRIX = """
name: e2e-d2
seed: [0]
data: {dataset: simulated, n: 60, size: 64, seed: 1}
split: {test_fraction: 0.3}
generators: [{name: physics, plugin: physics}]
detectors:
  - {name: mask, plugin: detectron2, model: mask_rcnn, size: small, epochs: 1, imgsz: 64, batch: 8}
axes: {synthetic_ratio: [0, 0.5], budget: [epochs, steps]}
metrics: {bootstrap: 20}
samples: 0
"""


def _run(tmp_path, matrix: str, *args: str):
    m = tmp_path / "m.yaml"
    m.write_text(matrix)
    return CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / "r"), "--cache-dir",
                                     str(tmp_path / "c"), "--quiet", "--no-report", *args])


@pytest.fixture
def detectron2_plugin(monkeypatch):
    monkeypatch.setenv("BENCHBENCH_PLUGIN_MODULES", "benchbench_detectron2")  # installed or not: load it
    # cells run in a worker process, which reads this: on shared CI cores more threads spin-wait
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def test_a_run_without_detectron2_stops_with_one_line(tmp_path, monkeypatch, detectron2_plugin):
    monkeypatch.setitem(sys.modules, "detectron2", None)  # what the plugin sees when it is not installed
    res = _run(tmp_path, MATRIX)
    assert res.exit_code == 2, res.output
    line, = [x for x in res.output.splitlines() if "detectron2 is not installed" in x]
    assert "shared/wheels" in line and "source" in line


@pytest.mark.slow
def test_bench_run_with_a_mask_rcnn_row(tmp_path, no_network, detectron2_plugin):
    pytest.importorskip("detectron2", reason="detectron2 is not installed (make install: ../shared/wheels/)")
    res = _run(tmp_path, MATRIX)
    data = json.loads((tmp_path / "r" / "e2e-d2" / "results.json").read_text())
    errors = [c["error"] for c in data["cells"] if c["status"] != "ok"]
    assert res.exit_code == 0 and not errors, (res.output, errors)
    cells = {c["id"]: c for c in data["cells"]}
    assert len(cells) == 3 and {c["detector"]["plugin"] for c in cells.values()} == {"detectron2"}
    for c in cells.values():
        assert 0.0 <= c["metrics"]["mAP50"]["value"] <= 1.0
        assert c["detector"]["params"]["model"] == "mask_rcnn"
        assert (tmp_path / "r" / "e2e-d2" / c["artifacts"]["predictions"]).exists()
    # the real-only equal-steps copy trains the epochs that make the ratio-0.5 cell's images, rounded
    copy, = [c["budget"] for c in cells.values() if c["budget"]["mode"] == "steps"]
    assert copy["epochs"] == round(copy["reference_frames"] / copy["train_frames"]) == 2
    again = _run(tmp_path, MATRIX)  # resume: nothing retrains
    assert again.exit_code == 0
    resumed = json.loads((tmp_path / "r" / "e2e-d2" / "results.json").read_text())
    assert [c["finished"] for c in resumed["cells"]] == [c["finished"] for c in data["cells"]]


# The tuning split of examples/study/flyd-s-tune.yaml: the study's test specimens (Sample3, Sample8) unused.
TUNE_TRAIN, TUNE_HELD_OUT = ("Sample1", "Sample2", "Sample4"), "Sample5"
SHORT_FIT = {"model": "faster_rcnn", "size": "small", "imgsz": 96, "batch": 8}
FIT_EPOCHS = 12  # 252 steps of 8 frames, about 2 CPU-minutes
# AP at IoU 0.1 on the held-out specimen (24 cracked frames of 62). Measured (CPU, one thread): untrained
# 0.016, trained 0.423 with this seed (the same in three runs); seeds 1 and 2 gave 0.286 and 0.480. A run on
# another machine or torch build drifts like another seed would, so the margin sits well under the worst
# seed's gain (0.27): 0.15 fails only if the fit stops learning, not on a seed's luck.
MARGIN = 0.15


@pytest.mark.slow
def test_a_short_fit_on_flyd_s_beats_the_untrained_model(flyd_s_zip, tmp_path, no_network):
    pytest.importorskip("detectron2", reason="detectron2 is not installed (make install: ../shared/wheels/)")
    from benchbench_detectron2.detector import Detectron2Detector

    from benchbench.api import coco_stats
    from benchbench.data.flyd import FlydDataset
    from benchbench.testing import make_context

    with zipfile.ZipFile(flyd_s_zip) as zf:
        zf.extractall(tmp_path / "data")
    frames = FlydDataset(tmp_path / "data" / "dataset_flyd", layout="masks").load()
    train = frames.filter(lambda f: f.group in TUNE_TRAIN)
    held_out = frames.filter(lambda f: f.group == TUNE_HELD_OUT)
    ap = {}
    with torch_threads(1):
        for epochs in (0, FIT_EPOCHS):  # 0: the same config and seed, saved as initialised
            ctx = make_context(tmp_path / f"epochs{epochs}")
            det = Detectron2Detector(**SHORT_FIT, epochs=epochs)
            det.fit(train, None, ctx)
            ap[epochs] = coco_stats(held_out, det.predict(held_out, ctx), [0.1])["AP"]
    print(f"held-out AP@0.1 by epochs: {ap}")  # shown with -s: the values the margin was chosen from
    assert ap[FIT_EPOCHS] > ap[0] + MARGIN, ap
