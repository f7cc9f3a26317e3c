"""benchbench-mlflow against a real local MLflow store: a toy `bench run`, then read back with MlflowClient."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchbench.testing import heavy_imports

mlflow = pytest.importorskip("mlflow")

import benchbench_mlflow  # noqa: E402
from benchbench_mlflow import logger  # noqa: E402


@pytest.fixture(autouse=True)
def _logging_on(monkeypatch):  # the repo's Makefile switches the observer off for everything else
    monkeypatch.delenv("BENCHBENCH_MLFLOW", raising=False)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """`bench run` of the core's toy matrix (two seeds, real-only cells) with this plugin observing."""
    import benchbench_toys  # the core's test toys (tests/ is on the path: root conftest.py)

    tmp = tmp_path_factory.mktemp("mlflow-run")
    matrix = benchbench_toys.write_matrix(tmp, name="toyrun", seeds=[0, 1], ratios=[0], bootstrap=20)
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "BENCHBENCH_MLFLOW_EXPERIMENT", "BENCHBENCH_MLFLOW")}
    env["BENCHBENCH_PLUGIN_MODULES"] = "benchbench_toys,benchbench_mlflow"
    res = subprocess.run([sys.executable, "-m", "benchbench.cli", "run", str(matrix), "--results-dir",
                          str(tmp / "results"), "--cache-dir", str(tmp / "cache"), "--no-report"],
                         capture_output=True, text=True, env=env, timeout=600, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    run_dir = tmp / "results" / "toyrun"
    results = json.loads((run_dir / "results.json").read_text())
    client = mlflow.tracking.MlflowClient(f"sqlite:///{run_dir / 'mlflow' / 'mlflow.db'}")
    return {"dir": run_dir, "results": results, "client": client, "output": res.stdout + res.stderr}


def _runs(client, name="toyrun"):
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None, "no experiment named after the benchbench run"
    return client.search_runs([experiment.experiment_id], max_results=1000)


def test_one_mlflow_run_per_cell_under_one_parent(toy_run):
    runs = _runs(toy_run["client"])
    parents = [r for r in runs if logger.PARENT_TAG in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and parents[0].info.run_name == "toyrun"
    assert parents[0].data.tags[logger.PARENT_TAG] == str(toy_run["dir"])
    cells = toy_run["results"]["cells"]
    assert sorted(r.info.run_name for r in children) == sorted(c["id"] for c in cells)
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    assert {r.info.status for r in children} == {"FINISHED"}
    assert "benchbench_cell_finished failed" not in toy_run["output"]


def test_params_metrics_and_cis_match_the_cell_records(toy_run):
    by_name = {r.info.run_name: r for r in _runs(toy_run["client"])}
    for cell in toy_run["results"]["cells"]:
        run = by_name[cell["id"]]
        p, m = run.data.params, run.data.metrics
        assert p["detector"] == cell["cell"]["detector"] and p["seed"] == str(cell["cell"]["seed"])
        assert p["ratio"] == json.dumps(cell["cell"]["ratio"]) and p["generator"] == "null"
        assert p["detector.version"] == cell["detector"]["version"]
        for name in ("mAP50_95", "mAP50", "AP10"):
            value, (lo, hi) = cell["metrics"][name]["value"], cell["metrics"][name]["ci"]
            assert m[name] == pytest.approx(value)
            assert (m[f"{name}.ci_low"], m[f"{name}.ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
        assert m["coco.AP50"] == pytest.approx(cell["metrics"]["coco"]["AP50"])
        assert run.data.tags["benchbench.key"] == cell["key"] and run.data.tags["benchbench.status"] == "ok"


def test_artifacts_are_the_cell_record_and_predictions(toy_run):
    client = toy_run["client"]
    cell = toy_run["results"]["cells"][0]
    run = next(r for r in _runs(client) if r.info.run_name == cell["id"])
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {f"{cell['id']}.json", "predictions.json"} <= names
    local = Path(client.download_artifacts(run.info.run_id, f"{cell['id']}.json"))
    assert json.loads(local.read_text())["metrics"]["mAP50"] == cell["metrics"]["mAP50"]
    # artifacts live beside the run's results, not in the working directory
    assert (toy_run["dir"] / "mlflow" / "artifacts").is_dir()


def test_failed_cell_is_a_failed_run_with_its_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    monkeypatch.setenv("BENCHBENCH_MLFLOW_EXPERIMENT", "mine")
    result = {"id": "det__s0", "key": "k", "status": "failed", "error": "ValueError: boom",
              "cell": {"detector": "det", "seed": 0}, "run": {"name": "r", "dir": str(tmp_path / "run")}}
    run_id = logger.log_cell(result)
    client = mlflow.tracking.MlflowClient(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["benchbench.error"] == "ValueError: boom"
    assert client.get_experiment(run.info.experiment_id).name == "mine" and run.data.metrics == {}
    assert not (tmp_path / "run" / "mlflow").exists()  # MLFLOW_TRACKING_URI wins over the run folder


def test_names_are_valid_mlflow_keys():
    result = {"metrics": {"mAP50@small": {"value": 0.5, "ci": [None, None]}, "AP10": {"value": float("nan")}},
              "cell": {"detector": "d", "guidance": None}, "detector": {"params": {"train_args": {"a": 1}}}}
    assert logger.metrics(result) == {"mAP50/small": 0.5}
    assert logger.params(result) == {"detector": "d", "guidance": "null", "detector.params.train_args": '{"a": 1}'}


def test_switched_off_by_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHBENCH_MLFLOW", "off")
    benchbench_mlflow.benchbench_cell_finished({"id": "x", "run": {"name": "r", "dir": str(tmp_path)}})
    assert not (tmp_path / "mlflow").exists()


def test_hook_module_stays_light():
    assert heavy_imports("import benchbench_mlflow", ("mlflow", "torch", "sqlalchemy")) == []


def test_an_unreachable_tracking_server_is_one_warning_and_no_wait(tmp_path):
    """MLFLOW_TRACKING_URI names a loopback port nothing listens on: the run finishes, every cell kept,
    with one warning (MLflow's own retries took ~4 minutes a cell; the subprocess timeout is the bound)."""
    import benchbench_toys

    matrix = benchbench_toys.write_matrix(tmp_path, name="offline", seeds=[0, 1, 2], ratios=[0], bootstrap=0)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "BENCHBENCH_MLFLOW"))}
    env |= {"BENCHBENCH_PLUGIN_MODULES": "benchbench_toys,benchbench_mlflow",
            "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}
    res = subprocess.run([sys.executable, "-m", "benchbench.cli", "run", str(matrix), "--results-dir",
                          str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"), "--no-report"],
                         capture_output=True, text=True, env=env, timeout=180, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    warnings = [line for line in res.stderr.splitlines() if "benchbench_mlflow" in line]
    assert len(warnings) == 1 and "failed on 3 cells" in warnings[0] and "127.0.0.1:9" in warnings[0], res.stderr
    cells = json.loads((tmp_path / "results" / "offline" / "results.json").read_text())["cells"]
    assert [c["status"] for c in cells] == ["ok"] * 3
