"""The real thing, small: `bench run` with the installed yolo and detr plugins on simulated frames.

Trains real ultralytics and transformers models built from configs (nothing downloaded), with a
physics generator mixed in, and checks the cells end to end. Skipped where the plugins are not
installed (core-only checkouts); `make test` installs them.
"""

import json
import socket

import pytest
from click.testing import CliRunner

from benchbench.cli import main

MATRIX = """
name: e2e
seed: [0]
data: {dataset: simulated, n: 80, size: 64, seed: 1}
split: {test_fraction: 0.3}
generators: [{name: physics, plugin: physics}]
detectors:
  - {name: yolo, plugin: yolo, model: yolov8n.yaml, epochs: 2, imgsz: 64, batch: 16}
  - {name: detr, plugin: detr, variant: rt-detr, size: tiny, epochs: 2, imgsz: 64}
axes: {synthetic_ratio: [0, 0.5]}
metrics: {bootstrap: 20}
samples: 0
"""


@pytest.mark.slow
def test_bench_run_with_yolo_and_detr(tmp_path, monkeypatch):
    pytest.importorskip("benchbench_yolo")
    pytest.importorskip("benchbench_detr")
    monkeypatch.setenv("BENCHBENCH_PLUGINS", "benchbench-yolo,benchbench-detr")

    def no_network(*args, **kwargs):
        raise OSError("network access attempted during a benchmark run")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    m = tmp_path / "m.yaml"
    m.write_text(MATRIX)
    res = CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / "r"), "--cache-dir",
                                    str(tmp_path / "c"), "--quiet", "--no-report"])
    data = json.loads((tmp_path / "r" / "e2e" / "results.json").read_text())
    errors = [c["error"] for c in data["cells"] if c["status"] != "ok"]
    assert res.exit_code == 0 and not errors, (res.output, errors)
    assert {c["detector"]["plugin"] for c in data["cells"]} == {"yolo", "detr"}
    assert len(data["cells"]) == 4
    for c in data["cells"]:
        v = c["metrics"]["mAP50"]["value"]
        assert 0.0 <= v <= 1.0
        assert c["detector"]["params"]["epochs"] == 2
        assert (tmp_path / "r" / "e2e" / c["artifacts"]["predictions"]).exists()
    assert set(data["run"]["plugins"]) >= {"yolo", "detr"}
    # resume: nothing retrains
    res2 = CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / "r"), "--cache-dir",
                                     str(tmp_path / "c"), "--quiet", "--no-report"])
    assert res2.exit_code == 0
    again = json.loads((tmp_path / "r" / "e2e" / "results.json").read_text())
    assert [c["metrics"] for c in again["cells"]] == [c["metrics"] for c in data["cells"]]
    assert [c["finished"] for c in again["cells"]] == [c["finished"] for c in data["cells"]]
