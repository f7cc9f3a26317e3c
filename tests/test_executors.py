"""Scale-out executors: Ray (a local 2-CPU cluster) and submitit (its local backend).

The same 12-cell toy matrix must give the same cell metrics as the local executor, a Ray worker
killed mid-cell must be retried, and a killed `bench run --executor ray` driver must resume.
Heavy tests are marked `extras` and skip without ray/submitit; one Ray cluster serves the module.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import benchbench_toys
import pytest
from click.testing import CliRunner

from benchbench.api import MissingDependency, UserError
from benchbench.cli import main
from benchbench.executors.remote import RemoteCall, passthrough_env

# 3 baselines + tg (teacher-labelled): 2 guidances x 3 seeds + tb (exact boxes, no guidance): 3 seeds = 12
N_CELLS = 12
TOYS = {"BENCHBENCH_PLUGIN_MODULES": "benchbench_toys"}


def write_matrix(folder: Path, det: str = "", executor: str = "") -> Path:
    return benchbench_toys.write_matrix(folder, name="scale", seeds=[0, 1, 2], ratios=[0, 1], bootstrap=20,
                                        det=det, extra=f"samples: 0\n{executor}")


def bench(matrix: Path, out: Path, *args: str):
    return CliRunner().invoke(main, ["run", str(matrix), "--results-dir", str(out / "results"),
                                     "--cache-dir", str(out / "cache"), "--no-report", "--quiet", *args])


def cells(out: Path) -> list[dict]:
    return json.loads((out / "results" / "scale" / "results.json").read_text())["cells"]


def outcome(out: Path) -> list[tuple]:
    """What must not depend on the executor: which cells, their status, counts and metrics."""
    return [(c["id"], c["status"], c.get("counts"), c.get("metrics")) for c in cells(out)]


def fits(out: Path, cell_id: str) -> list[str]:
    f = out / "results" / "scale" / "work" / cell_id / "fit_count"
    return f.read_text().split() if f.exists() else []


@pytest.fixture
def toys(monkeypatch):
    for k, v in TOYS.items():
        monkeypatch.setenv(k, v)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> list[tuple]:
    """The 12-cell matrix run by the local executor, once for the module."""
    out = tmp_path_factory.mktemp("local")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in TOYS.items():
            mp.setenv(k, v)
        res = bench(write_matrix(out), out)
    assert res.exit_code == 0, res.output
    ref = outcome(out)
    assert len(ref) == N_CELLS and all(status == "ok" for _, status, _, _ in ref)
    return ref


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray cluster of 2 CPUs (start-up costs ~10 s), started the way `bench run` starts one."""
    ray = pytest.importorskip("ray")
    from benchbench.executors.ray import RayExecutor

    RayExecutor(workers=2)._connect()
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


# --------------------------------------------------------------------------- no extras needed
def test_missing_extras_are_user_errors(monkeypatch, tmp_path, toys):
    from benchbench.executors.ray import RayExecutor
    from benchbench.executors.submitit import SubmititExecutor

    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    monkeypatch.setitem(sys.modules, "submitit", None)
    with pytest.raises(MissingDependency, match=r"ray is required for --executor ray") as err:
        RayExecutor()
    assert "benchbench-ndt[ray]" in str(err.value) and err.value.exit_code == 2
    with pytest.raises(MissingDependency, match=r"benchbench-ndt\[slurm\]"):
        SubmititExecutor(folder=tmp_path)
    res = bench(write_matrix(tmp_path), tmp_path, "--executor", "ray")
    assert res.exit_code == 2 and "pip install 'benchbench-ndt[ray]'" in res.output
    assert "Traceback" not in res.output


def test_remote_call_returns_exceptions_and_uses_driver_dir(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    err = RemoteCall(_raise_value_error, str(tmp_path))(1)
    assert isinstance(err, ValueError) and str(err) == "bad item 1"
    assert RemoteCall(_cwd, str(tmp_path))(0) == str(tmp_path)
    odd = RemoteCall(_raise_unpicklable, str(tmp_path))(0)  # must still travel back to the driver
    assert type(odd) is RuntimeError and "Unpicklable: nope" in str(odd)


def test_passthrough_env_forwards_plugin_and_offline_settings():
    env = {"BENCHBENCH_PLUGIN_MODULES": "x", "HF_HUB_OFFLINE": "1", "YOLO_OFFLINE": "1", "PYTHONPATH": "/p",
           "HOME": "/home/me", "PATH": "/bin"}
    assert passthrough_env(env) == {"BENCHBENCH_PLUGIN_MODULES": "x", "HF_HUB_OFFLINE": "1", "YOLO_OFFLINE": "1",
                                    "PYTHONPATH": "/p"}


@pytest.mark.extras
@pytest.mark.parametrize("kwargs, field", [({"num_gpus": -1}, "num_gpus"), ({"max_retries": 1.5}, "max_retries"),
                                           ({"workers": 0}, "workers")])
def test_ray_rejects_bad_options(kwargs, field):
    pytest.importorskip("ray")
    from benchbench.executors.ray import RayExecutor

    with pytest.raises(UserError, match=field):
        RayExecutor(**kwargs)


@pytest.mark.extras
def test_submitit_rejects_bad_options(tmp_path):
    pytest.importorskip("submitit")
    from benchbench.executors.submitit import SubmititExecutor

    with pytest.raises(UserError, match="rejects cluster='kubernetes': Input should be 'slurm' or 'local'"):
        SubmititExecutor(folder=tmp_path, cluster="kubernetes")
    with pytest.raises(UserError, match="rejects time='1h'"):
        SubmititExecutor(folder=tmp_path, cluster="local", time="1h")
    with pytest.raises(UserError, match="submitit rejected"):
        SubmititExecutor(folder=tmp_path, cluster="local", slurm={"no_such_option": 1})


# --------------------------------------------------------------------------- Ray
@pytest.mark.extras
def test_ray_plugin_error_is_a_result_and_lost_worker_is_retried(ray_cluster, tmp_path):
    from benchbench.executors.ray import RayExecutor

    calls = tmp_path / "calls"
    items = [str(tmp_path / "die-once"), str(calls)]
    got: dict[int, object] = {}
    RayExecutor(max_retries=2).map(_die_once_or_fail, items, lambda i, r: got.__setitem__(i, r))
    assert got[0] == "survived"  # its first worker was SIGKILLed: Ray ran it again
    assert isinstance(got[1], ValueError) and "plugin bug" in str(got[1])
    assert calls.read_text().split() == ["call"]  # a plugin exception is never retried


@pytest.mark.extras
def test_ray_matches_local_and_retries_a_worker_killed_mid_cell(ray_cluster, reference, tmp_path, toys):
    psutil = pytest.importorskip("psutil")
    m = write_matrix(tmp_path, det=", sleep: 0.6")  # each fit sleeps: time to kill it inside the cell
    killed: list[tuple[int, str]] = []
    stop = threading.Event()

    def kill_one_cell_worker() -> None:
        while not stop.is_set() and not killed:
            for p in psutil.process_iter(["pid", "cmdline"]):
                title = " ".join(p.info["cmdline"] or []).strip()
                if title.startswith("ray::run_cell_job:"):  # Ray's process title: the running task's name
                    os.kill(p.info["pid"], signal.SIGKILL)
                    killed.append((p.info["pid"], title.removeprefix("ray::run_cell_job:")))
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_cell_worker, daemon=True)
    killer.start()
    try:
        res = bench(m, tmp_path, "--executor", "ray", "-x", "num_cpus=1")
    finally:
        stop.set()
        killer.join()
    assert res.exit_code == 0, res.output
    assert killed, "no cell worker was seen running"
    pid, cell_id = killed[0]
    # the killed attempt never finished fit; the retry did, in another process, exactly once
    assert len(fits(tmp_path, cell_id)) == 1 and str(pid) not in fits(tmp_path, cell_id)
    # the sleep changes no metric: same cells, statuses, counts and metrics as the local executor
    assert outcome(tmp_path) == reference


@pytest.mark.extras
def test_ray_resume_after_driver_killed(ray_cluster, reference, tmp_path, toys):
    m = write_matrix(tmp_path, det=", sleep: 0.3")
    cmd = [sys.executable, "-m", "benchbench.cli", "run", str(m), "--results-dir", str(tmp_path / "results"),
           "--cache-dir", str(tmp_path / "cache"), "--no-report", "--quiet", "--executor", "ray",
           "-x", f"address={ray_cluster}"]
    log = tmp_path / "driver.log"
    with open(log, "wb") as fh:  # a file, not a pipe: nobody reads a pipe while the driver runs
        proc = subprocess.Popen(cmd, env={**os.environ, **TOYS}, stdout=subprocess.DEVNULL, stderr=fh)
    cells_dir = tmp_path / "results" / "scale" / "cells"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(cells_dir.glob("*.json"))) < 4 and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {p.stem for p in cells_dir.glob("*.json")}
    assert 4 <= len(done_before) < N_CELLS, log.read_text()
    for p in cells_dir.glob("*.json"):  # every cell file the killed driver left is whole
        assert json.loads(p.read_text())["status"] == "ok"

    res = bench(m, tmp_path, "--executor", "ray")  # the same command, in this process, resumes
    assert res.exit_code == 0, res.output
    for cid in done_before:
        assert len(fits(tmp_path, cid)) == 1, f"{cid} was recomputed"
    assert outcome(tmp_path) == reference


# --------------------------------------------------------------------------- submitit
@pytest.mark.extras
def test_submitit_local_backend_matches_local(reference, tmp_path, toys):
    pytest.importorskip("submitit")
    m = write_matrix(tmp_path, executor="executor: {name: submitit, cluster: local, poll_s: 0.2}")
    res = bench(m, tmp_path, "--workers", "2", "-x", "time=10")
    assert res.exit_code == 0, res.output
    assert outcome(tmp_path) == reference
    logs = list((tmp_path / "results" / ".submitit").glob("*_log.out"))
    assert logs, "submitit's logs belong next to the results (RESULTS_DIR/.submitit)"


@pytest.mark.extras
def test_submitit_requeues_a_preempted_job(tmp_path):
    pytest.importorskip("submitit")
    from benchbench.executors.submitit import SubmititExecutor, _Job

    ex = SubmititExecutor(folder=tmp_path / "sub", cluster="local")
    marker = tmp_path / "started"
    job = ex._ex.submit(_Job(_slow_then_pid, str(tmp_path)), str(marker))
    deadline = time.time() + 60
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.05)
    first_pid = int(marker.read_text().split()[0])
    os.kill(first_pid, signal.SIGUSR2)  # submitit's preemption signal (sbatch --signal=USR2@90)
    assert job.result() != first_pid  # requeued: a second process ran the same job to the end
    assert len(marker.read_text().split()) == 2


@pytest.mark.extras
def test_submitit_map_streams_results_and_exceptions(tmp_path):
    pytest.importorskip("submitit")
    from benchbench.executors.submitit import SubmititExecutor

    got: dict[int, object] = {}
    SubmititExecutor(folder=tmp_path / "sub", cluster="local", poll_s=0.1, workers=2).map(
        _raise_value_error, [1, 2, 3], lambda i, r: got.__setitem__(i, r))
    assert sorted(got) == [0, 1, 2]
    assert all(isinstance(r, ValueError) for r in got.values()) and str(got[2]) == "bad item 3"


# --------------------------------------------------------------------------- job functions (importable by workers)
def _raise_value_error(item):
    raise ValueError(f"bad item {item}")


def _cwd(_item):
    return os.getcwd()


class Unpicklable(Exception):
    def __init__(self, message, handle):
        super().__init__(message)
        self.handle = handle

    def __reduce__(self):
        raise TypeError("cannot pickle")


def _raise_unpicklable(_item):
    raise Unpicklable("nope", object())


def _die_once_or_fail(path: str):
    """First item: SIGKILL its own worker once (a lost node), then succeed. Second item: a plugin bug."""
    p = Path(path)
    if p.name == "calls":
        with open(p, "a") as fh:
            fh.write("call\n")
        raise ValueError("plugin bug")
    if not p.exists():
        p.write_text("x")
        os.kill(os.getpid(), signal.SIGKILL)
    return "survived"


def _slow_then_pid(path: str) -> int:
    with open(path, "a") as fh:
        fh.write(f"{os.getpid()}\n")
    if len(Path(path).read_text().split()) == 1:
        time.sleep(30)  # interrupted here on the first run
    return os.getpid()


def test_local_workers_share_the_cpus_unless_told(monkeypatch):
    from benchbench.executors.local import LocalExecutor, worker_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")  # the user's own setting reaches the workers unchanged
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert worker_threads(2) == 4 and worker_threads(3) == 2 and worker_threads(16) == 1
    seen: dict[int, tuple] = {}
    LocalExecutor(workers=2).map(benchbench_toys.thread_settings, [0, 1], seen.__setitem__)
    assert seen == {0: ("4", "3"), 1: ("4", "3")}  # 8 CPUs / 2 workers, computed by the driver


def test_local_workers_progress_reaches_the_driver():
    from benchbench.executors.local import LocalExecutor

    seen, results = [], {}
    LocalExecutor(workers=2).map(benchbench_toys.reporting_job, [0, 1, 2], results.__setitem__,
                                 progress=lambda *msg: seen.append(msg))
    assert results == {0: 0, 1: 1, 2: 2}
    assert sorted(seen) == sorted((f"u{i}", f"epoch {e}/2", e / 2) for i in range(3) for e in (1, 2))
    # per unit, in the order the worker sent them
    assert [m for m in seen if m[0] == "u1"] == [("u1", "epoch 1/2", 0.5), ("u1", "epoch 2/2", 1.0)]
