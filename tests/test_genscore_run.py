"""Generator scores inside `bench run` and `bench generators score|compare`, with the toy plugins."""

import json
from pathlib import Path

import benchbench_toys
import pytest
from click.testing import CliRunner

from benchbench.cli import main


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.setenv("BENCHBENCH_PLUGIN_MODULES", "benchbench_toys")


def _run(tmp_path: Path, extra: str = "") -> dict:
    m = benchbench_toys.write_matrix(tmp_path, name="gs", seeds=[0, 1], ratios=[0, 0.5, 1], bootstrap=20,
                                     extra=extra)
    res = CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / "results"),
                                    "--cache-dir", str(tmp_path / "cache"), "--no-report", "-q"])
    assert res.exit_code == 0, res.output
    return json.loads((tmp_path / "results" / "gs" / "results.json").read_text())


def test_run_writes_generator_scores(tmp_path, toys):
    data = _run(tmp_path, "scores: {extractors: [{name: physics}, {name: cnn, epochs: 3}], bootstrap: 50}")
    gs = data["generator_scores"]
    assert gs["errors"] == [] and gs["flags"] == []
    # tg: 2 guidance x 2 seeds, tb: 2 seeds
    assert sorted(s["id"] for s in gs["sets"]) == sorted(
        [f"tg__g{g}__s{s}" for g in (7, 9) for s in (0, 1)] + [f"tb__g-__s{s}" for s in (0, 1)])
    cnn = gs["extractors"]["cnn"]["trained_on"]
    assert cnn["frames"] == data["run"]["data"]["n_train"] == len(cnn["names"])
    for s in gs["sets"]:
        for ext in ("physics", "cnn"):
            for label in ("crack", "sane"):
                sc = s["scores"][ext][label]
                assert sc["fd"] >= 0 and sc["kid_se"] >= 0
                assert all(0 <= sc[k] <= 1 for k in ("precision", "recall", "coverage"))
        mem = s["memorisation"]["pixel"]
        assert mem["test"]["exact_copies"] == 0 and mem["scale"] > 0
        assert (tmp_path / "results" / "gs" / "samples" / s["closest_pairs_png"]).exists()
    gain = gs["gain"]["metrics"]["mAP50"]
    assert len(gain["cells"]) == sum(1 for c in data["cells"] if c["cell"]["generator"])
    rho = gain["by_score"]["physics.crack.fd"]
    # the toy detector learns nothing from extra frames: every gain is 0, and the result says so
    assert {c["gain"] for c in gain["cells"]} == {0.0}
    assert rho["n_sets"] == 6 and rho["rho"] is None and "tied" in rho["note"]
    assert "conclusion" not in gs["gain"]  # 6 sets are enough to try
