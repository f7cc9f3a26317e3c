"""Fault injection: broken plugins, a killed driver, damaged files. None may cost a finished cell.

Each test asserts the exit code, the one-line message, that finished cells are neither lost nor
recomputed, and that the metrics equal those of an uninterrupted run.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from benchbench.cli import main
from benchbench.records.store import RunStore

PLUGINS = "benchbench_toys,benchbench_faults"
MATRIX = """
name: {name}
seed: {seeds}
data: {{dataset: toydata, n: 40}}
split: {{test_fraction: 0.34}}
generators: [{generators}]
detectors:
{rows}
axes: {{synthetic_ratio: {ratios}}}
metrics: {{bootstrap: 20}}
samples: 0
{extra}
"""


@pytest.fixture(autouse=True)
def fault_plugins(monkeypatch):
    monkeypatch.setenv("BENCHBENCH_PLUGIN_MODULES", PLUGINS)


def matrix(folder: Path, rows: dict[str, str], *, name: str = "faults", seeds=(0,), ratios=(0,),
           generators: str = "", extra: str = "") -> Path:
    """A matrix with one detector row per entry of ``rows`` (name -> the row's extra fields)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = "\n".join(f"  - {{name: {n}, {fields}}}" for n, fields in rows.items())
    f = folder / "m.yaml"
    f.write_text(MATRIX.format(name=name, seeds=list(seeds), rows=text, ratios=list(ratios),
                               generators=generators, extra=extra))
    return f


def bench(tmp_path: Path, *args, results: str = "results", cache: str = "cache"):
    return CliRunner().invoke(main, ["run", *map(str, args), "--results-dir", str(tmp_path / results),
                                     "--cache-dir", str(tmp_path / cache), "--no-report"])


def cells_of(run_dir: Path) -> dict[str, dict]:
    return {c["id"]: c for c in json.loads((run_dir / "results.json").read_text())["cells"]}


def fits(run_dir: Path, cell_id: str) -> int:
    """How many times the toy detector was fitted for this cell (its fit_count file)."""
    f = run_dir / "work" / cell_id / "fit_count"
    return len(f.read_text().split()) if f.exists() else 0


def gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.time() + within
    while time.time() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


OK_ROW = "plugin: toydet"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of the 'ok' detector: the metrics every faulty run must reproduce."""
    root = tmp_path_factory.mktemp("reference")
    os.environ["BENCHBENCH_PLUGIN_MODULES"] = PLUGINS
    try:
        m = matrix(root, {"ok": OK_ROW, "slow": "plugin: faultdet, fault: none"}, seeds=(0, 1, 2))
        res = bench(root, m)
    finally:
        del os.environ["BENCHBENCH_PLUGIN_MODULES"]
    assert res.exit_code == 0, res.output
    return root / "results" / "faults", cells_of(root / "results" / "faults")


# --------------------------------------------------------------------------- broken plugins
EXPECTED = {  # fault -> what its cell's one-line error must say
    "raise": "RuntimeError: faultdet raised on purpose",
    "exit": "SystemExit: a plugin called sys.exit(3)",
    "os_exit": "exited with code 7",
    "segv": "was killed by signal SIGSEGV",
    "interrupt": "KeyboardInterrupt",
    "neg_box": "bbox width and height must be >= 0",
    "str_box": "bbox must be 4 finite numbers",
    "score": "score must be a finite number in [0, 1], got 1.5",
}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_misbehaving_plugin_fails_its_own_cell_only(tmp_path, reference, workers):
    rows = {"ok": OK_ROW} | {f"f_{f.replace('_', '')}": f"plugin: faultdet, fault: {f}" for f in EXPECTED}
    m = matrix(tmp_path, rows)
    res = bench(tmp_path, m, "--workers", workers)
    assert res.exit_code == 1, res.output  # the driver survived all of them and says which failed
    run_dir = tmp_path / "results" / "faults"
    cells = cells_of(run_dir)
    assert len(cells) == len(rows)
    for fault, message in EXPECTED.items():
        (cell,) = [c for cid, c in cells.items() if cid.startswith(f"f_{fault.replace('_', '')}__")]
        assert cell["status"] == "failed" and message in cell["error"], (fault, cell["error"])
        assert "\n" not in cell["error"]
        if fault in ("os_exit", "segv"):
            assert cell["id"] in cell["error"]  # names the cell that was running
    ok_id = next(c for c in cells if c.startswith("ok__"))
    assert cells[ok_id]["status"] == "ok"
    assert cells[ok_id]["metrics"] == reference[1][ok_id]["metrics"]
    assert f"1/{len(rows)} cells ok" in res.output
    if workers == 1:  # the next run retries the failed cells only
        assert bench(tmp_path, m).exit_code == 1
        assert fits(run_dir, ok_id) == 1


def test_the_run_refuses_what_bench_eval_refuses(tmp_path):
    gt = {"images": [{"id": 1, "width": 32, "height": 32}], "categories": [{"id": 1, "name": "crack"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 4], "area": 8}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    for det, message in ((dict(bbox=[1, 1, -2, 4], score=0.5), EXPECTED["neg_box"]),
                         (dict(bbox=["1", 1, 2, 4], score=0.5), EXPECTED["str_box"]),
                         (dict(bbox=[1, 1, 2, 4], score=1.5), EXPECTED["score"])):
        (tmp_path / "p.json").write_text(json.dumps([{"image_id": 1, "category_id": 1, **det}]))
        res = CliRunner().invoke(main, ["eval", str(tmp_path / "gt.json"), str(tmp_path / "p.json")])
        assert res.exit_code == 2 and message in res.output, res.output


def test_a_hanging_job_times_out_and_the_others_finish(tmp_path):
    rows = {"ok": "plugin: toydet, timeout: 300, generators: [fg]",
            "hang_row": "plugin: faultdet, fault: hang, timeout: 1, generators: []",
            "hang_default": "plugin: faultdet, fault: hang, generators: []",
            "teacher": "plugin: faultdet, fault: hang, only: 'label:', when: predict, timeout: 3, generators: [tg]"}
    gen = "{name: fg, plugin: faultgen, fault: hang, timeout: 1.5}, {name: tg, plugin: toygen}"
    m = matrix(tmp_path, rows, ratios=(0, 1), generators=gen, extra="timeout: 2")
    t0 = time.time()
    res = bench(tmp_path, m, "--workers", 2)
    assert res.exit_code == 1, res.output
    assert time.time() - t0 < 90
    cells = cells_of(tmp_path / "results" / "faults")
    by_det = {(c["cell"]["detector"], c["cell"]["ratio"]): c for c in cells.values()}
    assert by_det[("ok", 0)]["status"] == "ok"
    assert "timed out after 1 s" in by_det[("hang_row", 0)]["error"]
    assert "timed out after 2 s" in by_det[("hang_default", 0)]["error"]  # the matrix's default
    assert "DependencyFailed: needs generation fg__g-__s0, which failed" in by_det[("ok", 1)]["error"]
    assert "timed out after 1.5 s" in by_det[("ok", 1)]["error"]
    assert by_det[("teacher", 0)]["status"] == "ok"  # its labelling job hangs, not its own cell
    assert "needs teacher labels label:teacher__real__g-__r0__s0:tg__g7.5__s0, which failed: JobTimeout: " \
           "label:teacher__" in by_det[("teacher", 1)]["error"]
    assert "timed out after 3 s" in by_det[("teacher", 1)]["error"]
    for pid_file in (tmp_path / "results" / "faults" / "work").glob("*/pid"):
        assert gone(int(pid_file.read_text())), "a timed-out job's process is still running"


# --------------------------------------------------------------------------- a killed driver
def _start(tmp_path: Path, m: Path, workers: int) -> subprocess.Popen:
    env = {**os.environ, "BENCHBENCH_PLUGIN_MODULES": PLUGINS}
    cmd = [sys.executable, "-m", "benchbench.cli", "run", str(m), "--results-dir", str(tmp_path / "results"),
           "--cache-dir", str(tmp_path / "cache"), "--no-report", "--quiet", "--workers", str(workers)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for(predicate, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "the run did not get there in time"
        time.sleep(0.05)


@pytest.mark.parametrize("workers, finished", [(1, 0), (2, 0), (1, 3), (2, 2)])
def test_a_killed_driver_leaves_no_worker_and_loses_no_cell(tmp_path, reference, workers, finished):
    """SIGKILL the driver while a job runs, after ``finished`` cells; then resume."""
    ref_dir, ref_cells = reference
    m = matrix(tmp_path, {"ok": OK_ROW, "slow": "plugin: faultdet, fault: none, sleep: 0.5"}, seeds=(0, 1, 2))
    run_dir = tmp_path / "results" / "faults"
    proc = _start(tmp_path, m, workers)
    try:
        _wait_for(lambda: len(list((run_dir / "cells").glob("*.json"))) >= finished
                  and any(p.stat().st_mtime > 0 for p in run_dir.glob("work/slow__*/pid")))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    workers_seen = [int(p.read_text()) for p in run_dir.glob("work/*/pid")]
    assert workers_seen and all(gone(pid) for pid in workers_seen), "a worker outlived the driver"
    done_before = {p.stem for p in (run_dir / "cells").glob("*.json")}
    assert len(done_before) >= finished
    if finished:  # results.json follows the cells as they finish
        listed = set(cells_of(run_dir))
        assert listed <= done_before and len(listed) >= finished - 1
    res = bench(tmp_path, m, "--workers", workers)
    assert res.exit_code == 0, res.output
    cells = cells_of(run_dir)
    assert set(cells) == set(ref_cells)
    for cid in done_before:
        assert fits(run_dir, cid) == 1, f"{cid} was recomputed"
    assert {c: v["metrics"] for c, v in cells.items()} == {c: v["metrics"] for c, v in ref_cells.items()}
    assert not list(run_dir.rglob(".*.tmp")), "a temp file of the killed run survived"


# --------------------------------------------------------------------------- damaged files
def test_damaged_cell_files_and_results_json_are_recomputed(tmp_path, reference):
    ref_dir, ref_cells = reference
    run_dir = tmp_path / "results" / "faults"
    shutil.copytree(ref_dir, run_dir)
    ids = sorted(ref_cells)
    damaged = {ids[0]: "[]", ids[1]: json.dumps(ref_cells[ids[1]])[:-40],  # truncated
               ids[2]: json.dumps({**ref_cells[ids[2]], "metrics": {"mAP50": "high"}})}
    for cid, text in damaged.items():
        (run_dir / "cells" / f"{cid}.json").write_text(text)
    (run_dir / "results.json").write_text('{"run": ')
    (run_dir / ".results.json.x1.tmp").write_text("{")  # left by a run killed mid-write
    (run_dir / "cells" / f".{ids[3]}.json.x2.tmp").write_text("{")
    m = matrix(tmp_path, {"ok": OK_ROW, "slow": "plugin: faultdet, fault: none"}, seeds=(0, 1, 2))
    res = bench(tmp_path, m, "--workers", 2)
    assert res.exit_code == 0, res.output
    cells = cells_of(run_dir)
    assert {c: v["metrics"] for c, v in cells.items()} == {c: v["metrics"] for c, v in ref_cells.items()}
    for cid in ids:
        assert fits(run_dir, cid) == (2 if cid in damaged else 1), cid
    assert not list(run_dir.rglob(".*.tmp"))


def test_damaged_cache_entries_are_recomputed_and_named(tmp_path):
    m = matrix(tmp_path, {"ok": OK_ROW}, ratios=(0, 1), generators="{name: tb, plugin: toygen-boxes}")
    assert bench(tmp_path, m).exit_code == 0
    first = cells_of(tmp_path / "results" / "faults")
    sidecars = sorted(p for p in (tmp_path / "cache" / "frames").glob("*/*.json")
                      if json.loads(p.read_text())["group"] == "synthetic")
    replaced, broken = sidecars[0].with_suffix(".png"), sidecars[1]
    other = sidecars[2].with_suffix(".png").read_bytes()
    replaced.write_bytes(other)  # a valid image, but not the one that was generated
    broken.write_text('{"name": ')
    res = bench(tmp_path, m, "--run-name", "again")
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert f"{replaced} does not match the hash recorded when it was written: recomputed" in out
    assert f"{broken} is not valid JSON: recomputed" in out
    again = json.loads((tmp_path / "results" / "again" / "results.json").read_text())
    assert again["run"]["generation"]["generated"] == 2
    assert {c["id"]: c["metrics"] for c in again["cells"]} == {c: v["metrics"] for c, v in first.items()}


# --------------------------------------------------------------------------- one writer, safe paths
def test_a_second_run_into_a_folder_in_use_exits_2_naming_the_holder(tmp_path):
    m = matrix(tmp_path, {"ok": OK_ROW})
    holder = RunStore(tmp_path / "results" / "faults")
    holder.prepare()
    try:
        res = bench(tmp_path, m)
        assert res.exit_code == 2
        assert f"this run folder is in use by another bench run (PID {os.getpid()})" in res.output
        assert not list((tmp_path / "results" / "faults" / "cells").iterdir())
    finally:
        holder.release()
    assert bench(tmp_path, m).exit_code == 0


@pytest.mark.parametrize("name", ["../escape", "/tmp/abs", "a/b", "..", "."])
def test_run_names_cannot_leave_the_results_dir(tmp_path, name):
    m = matrix(tmp_path / "in", {"ok": OK_ROW})
    res = bench(tmp_path / "in", m, "--run-name", name)
    assert res.exit_code == 2 and "--run-name:" in res.output and "is not a plain folder name" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_fresh_deletes_nothing_outside_the_run_folder(tmp_path):
    m = matrix(tmp_path, {"ok": OK_ROW})
    assert bench(tmp_path, m).exit_code == 0
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    work = tmp_path / "results" / "faults" / "work"
    shutil.rmtree(work)
    work.symlink_to(outside)
    assert bench(tmp_path, m, "--fresh").exit_code == 0
    assert (outside / "keep.txt").read_text() == "mine"


def test_an_uncreatable_results_dir_exits_2_naming_it(tmp_path):
    m = matrix(tmp_path, {"ok": OK_ROW})
    (tmp_path / "afile").write_text("")
    res = CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / "afile" / "r"),
                                    "--cache-dir", str(tmp_path / "cache"), "--no-report"])
    assert res.exit_code == 2, res.output
    assert f"{tmp_path / 'afile' / 'r' / 'faults'}: --results-dir: cannot create the run folder" in res.output


class _Job:
    unit, timeout = "hang__s0", 0.3


def _swallowing_hang(job):
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            time.sleep(0.05)
        except Exception:  # a careless plugin: must not outlive its deadline anyway
            pass
    return "finished"


def _exits(job):
    sys.exit(4)


def test_remote_jobs_limit_their_own_time_and_contain_sys_exit(tmp_path):
    """Ray tasks and SLURM jobs run RemoteCall in their worker: it enforces the timeout itself."""
    from benchbench.executors.deadline import JobTimeout
    from benchbench.executors.remote import RemoteCall

    t0 = time.time()
    res = RemoteCall(_swallowing_hang, str(tmp_path))(_Job())
    assert isinstance(res, JobTimeout) and str(res) == "hang__s0 timed out after 0.3 s and was stopped"
    assert time.time() - t0 < 5
    res = RemoteCall(_exits, str(tmp_path))(_Job())
    assert isinstance(res, SystemExit) and res.code == 4


def test_cache_entries_without_a_recorded_hash_are_regenerated_quietly(tmp_path):
    """A cache written before sidecars carried the hash is not trusted, and not reported as damaged."""
    import numpy as np

    from benchbench.api import Frame
    from benchbench.records.cache import Cache

    cache = Cache(tmp_path)
    frame = Frame(None, 8, 8, "sane", (), image=np.zeros((8, 8), np.uint8), meta={"name": "f"})
    cache.put_frame("ab" * 32, frame)
    assert cache.get_frame("ab" * 32) is not None
    sidecar = tmp_path / "frames" / "ab" / f"{'ab' * 32}.json"
    meta = json.loads(sidecar.read_text())
    del meta["sha256"]
    sidecar.write_text(json.dumps(meta))
    assert cache.get_frame("ab" * 32) is None and cache.problems == []


def test_a_killed_writers_cache_temp_files_go_when_the_entry_is_written(tmp_path):
    import numpy as np

    from benchbench.api import Frame
    from benchbench.records.cache import STALE_TEMP_S, Cache

    key = "cd" * 32
    shard = tmp_path / "frames" / "cd"
    shard.mkdir(parents=True)
    stale, live = shard / f".{key}.png.123.tmp", shard / f".{key}.png.456.tmp"
    stale.write_bytes(b"half a png")
    live.write_bytes(b"another writer, still busy")
    os.utime(stale, (time.time() - STALE_TEMP_S - 60,) * 2)
    Cache(tmp_path).put_frame(key, Frame(None, 8, 8, "sane", (), image=np.zeros((8, 8), np.uint8),
                                         meta={"name": "f"}))
    assert not stale.exists() and live.exists()


def test_in_process_mode_runs_jobs_in_the_driver_for_debuggers():
    from benchbench.errors import UserError
    from benchbench.executors.local import LocalExecutor

    seen = []
    LocalExecutor(in_process=True).map(lambda item, progress=None: (item, os.getpid()), [1],
                                       lambda i, r: seen.append(r))
    assert seen == [(1, os.getpid())]
    with pytest.raises(UserError, match="executor.in_process"):
        LocalExecutor(workers=2, in_process=True)


def test_ctrl_c_stops_the_driver_and_its_workers(tmp_path):
    """A real Ctrl-C is the driver's: the workers ignore SIGINT, the driver stops them and exits."""
    m = matrix(tmp_path, {"stuck": "plugin: faultdet, fault: hang"})
    proc = _start(tmp_path, m, 1)
    pid_file = tmp_path / "results" / "faults" / "work"
    try:
        _wait_for(lambda: any(pid_file.glob("*/pid")))
        worker = int(next(pid_file.glob("*/pid")).read_text())
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert gone(worker), "the worker outlived an interrupted driver"
    RunStore(tmp_path / "results" / "faults").acquire()  # and the run lock went with the driver
