"""Jobs start as their own dependencies end; plugins are built once per process; executors own their options."""

from __future__ import annotations

import json
from pathlib import Path

import benchbench_toys
import pytest
from click.testing import CliRunner

from benchbench.cli import main
from benchbench.executors.queue import Job, JobQueue, run_in_order

TOYS = "benchbench_toys"

FAST_SYNTHETIC = 3  # fast x (tg g7, tg g9, tb) at ratio 1


def write(tmp_path: Path, slow: str = "") -> Path:
    """The toy matrix with two detector rows: "slow" trains on real frames only, "fast" with both
    generators (tg through the teacher labeler, tb with its own boxes)."""
    m = benchbench_toys.write_matrix(tmp_path, name="sched", seeds=[0], ratios=[0, 1], bootstrap=0,
                                     extra="samples: 0")
    rows = f"  - {{name: slow, plugin: toydet, generators: []{slow}}}\n  - {{name: fast, plugin: toydet}}"
    m.write_text(m.read_text().replace("  - {name: det, plugin: toydet}", rows))
    return m


def bench(tmp_path: Path, m: Path, *args: str):
    return CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / "results"), "--cache-dir",
                                     str(tmp_path / "cache"), "--no-report", "--quiet", *args])


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.setenv("BENCHBENCH_PLUGIN_MODULES", TOYS)
    from benchbench.plugins import reset_plugins

    reset_plugins()
    yield
    reset_plugins()


def test_synthetic_cells_do_not_wait_for_an_unrelated_baseline(tmp_path, toys):
    # The slow baseline's fit waits until every fast synthetic cell has fitted. Stage by stage (every
    # synthetic cell after every baseline) that never happens and the slow cell fails after 300 s.
    m = write(tmp_path, f", wait_for: 'fast__t*__r1__s0/fit_count', wait_count: {FAST_SYNTHETIC}")
    res = bench(tmp_path, m, "--workers", "2")
    assert res.exit_code == 0, res.output
    cells = {c["id"]: c for c in json.loads((tmp_path / "results" / "sched" / "results.json").read_text())["cells"]}
    slow = cells["slow__real__g-__r0__s0"]
    fast = [c for c in cells.values() if c["cell"]["detector"] == "fast" and c["cell"]["ratio"] == 1]
    assert len(fast) == FAST_SYNTHETIC and all(c["status"] == "ok" for c in cells.values())
    assert all(c["finished"] < slow["finished"] for c in fast)  # ISO timestamps of one clock sort as times
    # teacher-labelled cells used their own baseline's labels, which never waited for the slow one
    assert all(c["counts"]["synthetic_pos"] > 0 for c in fast)


def test_a_failed_baseline_fails_only_the_cells_it_teaches(tmp_path, toys):
    m = write(tmp_path)
    m.write_text(m.read_text().replace("{name: fast, plugin: toydet}", "{name: fast, plugin: toydet, fail_on: r0}"))
    res = bench(tmp_path, m)
    assert res.exit_code == 1
    cells = {c["id"]: c for c in json.loads((tmp_path / "results" / "sched" / "results.json").read_text())["cells"]}
    taught = [c for c in cells.values() if c["cell"]["generator"] == "tg"]
    assert taught and all(c["status"] == "failed" for c in taught)
    assert all("DependencyFailed: needs teacher labels label:fast__real__g-__r0__s0:tg__g" in c["error"]
               and "toy detector asked to fail" in c["error"] for c in taught)
    # tb gives its own boxes: its cell needs no baseline; the slow row is untouched
    assert cells["fast__tb__g-__r1__s0"]["status"] == "ok" and cells["slow__real__g-__r0__s0"]["status"] == "ok"


def test_each_plugin_is_built_once_in_the_driver(tmp_path, toys):
    """check, data loading, fingerprints, provenance and generation share one object per row; only a
    detector is built per cell and per teacher-label job, because its fitted model is that job's own."""
    from benchbench.method.matrix import check_plugins, load_matrix
    from benchbench.pipeline.runner import Runner, RunOptions, prepare
    from benchbench.plugins import get_plugins
    from benchbench.records.cache import Cache

    m = write(tmp_path)
    benchbench_toys.BUILT.clear()
    matrix, digest = load_matrix(m)
    check_plugins(matrix, str(m), get_plugins())
    prepared = prepare(matrix, str(m), digest, Cache(tmp_path / "cache"))
    summary = Runner(prepared, RunOptions(tmp_path / "results", tmp_path / "cache",
                                          executor_options={"in_process": True})).run()
    assert not summary.failed
    n_cells, n_label_jobs = len(prepared.plan.cells), 2  # fast's baseline labels tg g7 and tg g9
    assert benchbench_toys.BUILT == {"ToyDataset": 1, "ToyGenerator": 1, "ToyBoxGenerator": 1,
                                     "ToyDetector": 1 + n_cells + n_label_jobs}  # 1: both rows share plugin and params


@pytest.mark.parametrize("args, needle", [
    (["-x", "threads=2"], "-x threads: unknown option 'threads' of the local executor — fix: valid options: "
                          "workers, in_process"),
    (["-x", "worker=2"], "did you mean 'workers'?"),
    (["-x", "workers=0"], "-x workers: the local executor rejects workers=0: Input should be greater than or "
                          "equal to 1 — fix: workers: worker processes"),
    (["-x", "in_process"], "-x: executor option 'in_process' is not KEY=VALUE"),
    (["--executor", "ray", "-x", "num_gpu=1"], "unknown option 'num_gpu' of the ray executor"),
    (["--executor", "toyserial", "-x", "pause=soon"], "-x pause: the toyserial executor rejects pause='soon'"),
    (["--executor", "toyserial", "-x", "workers=2"], "valid options: pause"),
    (["--workers", "2", "-x", "in_process=true"], "in_process runs jobs in the driver, so only with workers: 1"),
])
def test_executor_options_are_checked_by_the_executors_model(tmp_path, toys, args, needle):
    res = bench(tmp_path, write(tmp_path), *args)
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output
    assert not (tmp_path / "results").exists()  # refused before any data was loaded or folder made


def test_a_third_party_executor_with_map_only_runs_a_matrix(tmp_path, toys):
    m = write(tmp_path)
    res = bench(tmp_path, m, "--executor", "toyserial", "-x", "pause=0")
    assert res.exit_code == 0, res.output
    cells = json.loads((tmp_path / "results" / "sched" / "results.json").read_text())["cells"]
    assert len(cells) == 2 + FAST_SYNTHETIC and all(c["status"] == "ok" for c in cells)


def _job(key, log, after=(), fail=False):
    def make():
        if fail:
            raise RuntimeError(f"{key} cannot start")
        return key
    return Job(key, lambda item, progress=None: item, make, lambda res: log.append((key, res)), tuple(after))


def test_queue_releases_a_job_when_its_own_dependencies_end():
    log: list = []
    q = JobQueue([_job("gen", log), _job("base", log), _job("cell", log, ["gen"]), _job("other", log, ["base"]),
                  _job("done-before", log, ["a finished cell of an earlier run"])])
    first = [q.take() for _ in range(3)]
    assert [j.key for j in first] == ["gen", "base", "done-before"] and q.take() is None
    q.done(first[0], "frames")
    assert q.take().key == "cell"  # "base" still runs: "cell" does not wait for it
    assert q.take() is None and not q.finished


def test_a_job_that_cannot_start_ends_with_its_error_and_others_go_on():
    log: list = []
    q = JobQueue([_job("gen", log), _job("cell", log, ["gen"], fail=True), _job("base", log)])
    run_in_order(q, lambda job: job.fn(job.item))
    assert q.finished
    assert [k for k, _ in log] == ["gen", "base", "cell"]
    err = dict(log)["cell"]
    assert isinstance(err, RuntimeError) and str(err) == "cell cannot start"
