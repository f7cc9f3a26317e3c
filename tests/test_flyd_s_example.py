"""examples/flyd-s.yaml on the real FLYD-S train+val archive: held-out real specimens, physics frames.

CI runs the example's real data, split and generator with the torch-free `classic` detector and one
seed; the yolo/detr rows are exercised on simulated frames by test_e2e_plugins.py.
"""

import json

import pytest
import yaml
from click.testing import CliRunner

from benchbench.cli import main


@pytest.mark.slow
def test_flyd_s_example_on_real_frames(tmp_path, flyd_s_zip):
    res = CliRunner().invoke(main, ["data", "fetch", "flyd-s", "--dest", str(tmp_path / "d"), "--from-zip",
                                    str(flyd_s_zip)])
    assert res.exit_code == 0, res.output
    from pathlib import Path

    example = yaml.safe_load((Path(__file__).resolve().parents[1] / "examples" / "flyd-s.yaml").read_text())
    example["data"]["root"] = str(tmp_path / "d" / "dataset_flyd")
    example["detectors"] = [d for d in example["detectors"] if d["plugin"] == "classic"]
    example["seed"] = [0]
    example["metrics"]["bootstrap"] = 200
    m = tmp_path / "flyd-s.yaml"
    m.write_text(yaml.safe_dump(example))
    res = CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / "r"), "--cache-dir",
                                    str(tmp_path / "c"), "--quiet"])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "r" / "flyd-s" / "results.json").read_text())
    assert data["run"]["data"]["test_groups"] == ["Sample3", "Sample8"]
    assert "Sample3" not in data["run"]["data"]["train_groups"]
    assert data["run"]["data"]["n_train"] + data["run"]["data"]["n_test"] == 323
    cells = data["cells"]
    assert [c["cell"]["ratio"] for c in cells] == [0, 0.5, 1, 2]
    base = cells[0]["metrics"]
    # classic on unseen real specimens: measured AP@0.1 ~0.9 and frame AUROC well above chance
    assert base["AP10"]["value"] > 0.5 and base["frame"]["auroc"] > 0.7
    for c in cells[1:]:
        assert c["counts"]["synthetic_pos"] + c["counts"]["synthetic_neg"] == round(
            c["cell"]["ratio"] * data["run"]["data"]["n_train"])
    assert (tmp_path / "r" / "flyd-s" / "plots").is_dir()
    assert (tmp_path / "r" / "flyd-s" / "samples" / "physics_g-.png").exists()
