"""Log one finished benchbench cell as an MLflow run.

Where: ``MLFLOW_TRACKING_URI`` when set, else a SQLite store in the benchbench run folder
(``RUN_DIR/mlflow/mlflow.db``, artifacts in ``RUN_DIR/mlflow/artifacts``): every run keeps its
own tracking data beside its results, and ``mlflow ui --backend-store-uri sqlite:///RUN_DIR/mlflow/mlflow.db``
shows it.

Grouping: the MLflow experiment is ``BENCHBENCH_MLFLOW_EXPERIMENT`` or the benchbench run's name;
inside it, one parent MLflow run per benchbench run folder, and one child run per cell (named by
the cell id) holding

- params: the cell's axes (detector, seed, ratio, generator, guidance, budget, ...), the detector's
  plugin, version and effective parameters (``detector.*``), labeler and mode;
- metrics: every headline metric with its 95 % CI (``mAP50``, ``mAP50.ci_low``, ``mAP50.ci_high``)
  and the numbers of the coco, frame and operating-point sections;
- tags: cell id and key, status, error, run folder;
- artifacts: the cell's JSON record, its predictions (COCO json) and worst-frames picture.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

PARENT_TAG = "benchbench.run_dir"
SECTIONS = ("coco", "frame", "operating_point")  # flattened into metrics beside the headline ones
MAX_PARAM = 6000  # MLflow's limit on a param value's length

# A tracking server that does not answer must cost seconds, not MLflow's default of 7 retries of up to
# 120 s each (about 4 minutes a cell); a user's own MLFLOW_HTTP_REQUEST_* settings win.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "10", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
                 "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}

_clients: dict[str, Any] = {}
_unreachable: dict[str, str] = {}  # tracking URI -> why its first request failed (not asked again this run)


def tracking_uri(run_dir: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(run_dir / 'mlflow' / 'mlflow.db').resolve()}"


def log_cell(result: dict[str, Any]) -> str | None:
    """Log ``result`` (a cell record, as the benchbench_cell_finished hook gets it); returns the MLflow
    run id, or None for a record without a run folder."""
    run = result.get("run") or {}
    if not run.get("dir"):
        return None
    run_dir = Path(run["dir"])
    uri = tracking_uri(run_dir)
    if uri in _unreachable:
        raise ConnectionError(f"MLflow tracking at {uri} failed on its first request: {_unreachable[uri]}")
    client = _client(uri, run_dir)
    try:
        experiment = _experiment(
            client, os.environ.get("BENCHBENCH_MLFLOW_EXPERIMENT") or run.get("name") or "benchbench",
            None if os.environ.get("MLFLOW_TRACKING_URI") else run_dir / "mlflow" / "artifacts")
    except Exception as exc:  # the first request: an unreachable server fails every later cell the same way
        _unreachable[uri] = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise
    parent = _parent(client, experiment, run_dir, run.get("name") or run_dir.name)
    from mlflow.entities import Metric, Param
    from mlflow.utils.time import get_current_time_millis

    now = get_current_time_millis()
    tags = {"mlflow.parentRunId": parent, PARENT_TAG + ".cell": str(run_dir), "benchbench.cell_id": result["id"],
            "benchbench.key": str(result.get("key")), "benchbench.status": str(result.get("status"))}
    if result.get("error"):
        tags["benchbench.error"] = str(result["error"])[:5000]
    child = client.create_run(experiment, start_time=now, run_name=result["id"], tags=tags).info.run_id
    client.log_batch(child, metrics=[Metric(k, v, now, 0) for k, v in metrics(result).items()],
                     params=[Param(k, v) for k, v in params(result).items()], tags=[])
    for path in artifacts(result, run_dir):
        client.log_artifact(child, str(path))
    client.set_terminated(child, "FINISHED" if result.get("status") == "ok" else "FAILED")
    return child


def params(result: dict[str, Any]) -> dict[str, str]:
    cell = {k: v for k, v in (result.get("cell") or {}).items() if k != "id"}
    det = result.get("detector") or {}
    out = {**cell, **{f"detector.{k}": v for k, v in det.items() if k != "params"},
           **{f"detector.params.{k}": v for k, v in (det.get("params") or {}).items()}}
    if result.get("labeler"):
        out["labeler"] = result["labeler"].get("kind") if isinstance(result["labeler"], dict) else result["labeler"]
    if result.get("mode"):
        out["mode"] = result["mode"]
    return {_name(k): _text(v) for k, v in out.items()}


def metrics(result: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, entry in (result.get("metrics") or {}).items():
        if isinstance(entry, dict) and "value" in entry:
            _put(out, name, entry["value"])
            ci = entry.get("ci") or [None, None]
            _put(out, f"{name}.ci_low", ci[0])
            _put(out, f"{name}.ci_high", ci[1])
        elif name in SECTIONS and isinstance(entry, dict):
            _flatten(out, name, entry)
    for name, seconds in (result.get("timings") or {}).items():
        _put(out, f"seconds.{name}", seconds)
    return out


def artifacts(result: dict[str, Any], run_dir: Path) -> list[Path]:
    paths = [run_dir / "cells" / f"{result['id']}.json"]
    paths += [run_dir / rel for rel in (result.get("artifacts") or {}).values() if isinstance(rel, str)]
    return [p for p in dict.fromkeys(paths) if p.is_file()]


# --------------------------------------------------------------------------- internals
def _client(uri: str, run_dir: Path) -> Any:
    if uri not in _clients:
        for name, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
        from mlflow.tracking import MlflowClient

        if uri.startswith("sqlite:///"):
            Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        _clients[uri] = MlflowClient(tracking_uri=uri)
    return _clients[uri]


def _experiment(client: Any, name: str, artifact_dir: Path | None) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = artifact_dir.resolve().as_uri() if artifact_dir is not None else None
    return client.create_experiment(name, artifact_location=location)


def _parent(client: Any, experiment: str, run_dir: Path, name: str) -> str:
    """The MLflow run grouping the cells of one benchbench run folder (made on its first cell)."""
    quoted = str(run_dir).replace("\\", "\\\\").replace("'", "\\'")
    found = client.search_runs([experiment], filter_string=f"tags.`{PARENT_TAG}` = '{quoted}'", max_results=1)
    if found:
        return found[0].info.run_id
    parent = client.create_run(experiment, run_name=name, tags={PARENT_TAG: str(run_dir)}).info.run_id
    client.set_terminated(parent, "FINISHED")
    return parent


def _flatten(out: dict[str, float], prefix: str, value: Any) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(out, f"{prefix}.{k}", v)
    else:
        _put(out, prefix, value)


def _put(out: dict[str, float], name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return  # None / NaN (no CI when bootstrap is off), strings and lists are not metrics
    out[_name(name)] = float(value)


def _name(key: str) -> str:
    # MLflow names allow letters, digits, _ - . space : / ; benchbench's size slices read "mAP50@small"
    return re.sub(r"[^\w\-. :/]", "_", str(key).replace("@", "/"))


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_PARAM else text[: MAX_PARAM - 3] + "..."
