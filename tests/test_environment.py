"""The locked install and the environment every run records: tools/check_lock.py, run.environment,
and the warning `bench compare` / `bench leaderboard check` give across environments."""

from __future__ import annotations

import copy
import json
import shutil
import sqlite3
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from click.testing import CliRunner

from benchbench.cli import main
from benchbench.environment import (
    TRACKED,
    environment,
    environment_differences,
    installed_distributions,
    lock_drift,
    read_lock,
)

ROOT = Path(__file__).resolve().parent.parent
CHECK_LOCK = ROOT / "tools" / "check_lock.py"


def test_environment_names_the_versions_that_compute_the_numbers():
    env = environment({"benchbench-yolo": "0.1.0"})
    assert env["python"] == sys.version.split()[0]
    assert set(env["packages"]) == set(TRACKED)
    assert env["packages"]["numpy"] == metadata.version("numpy")
    assert env["plugin_distributions"] == {"benchbench-yolo": "0.1.0"}
    assert "OMP_NUM_THREADS" in env["threads"]
    json.dumps(env)  # results.json must be able to hold it


def test_cpu_info_reads_the_model_and_the_simd_flags_of_the_first_processor(tmp_path):
    from benchbench.environment import cpu_info

    f = tmp_path / "cpuinfo"
    f.write_text("processor\t: 0\nmodel name\t: Some CPU @ 2.0GHz\nflags\t\t: fpu sse avx2 avx512f amx_tile\n\n"
                 "processor\t: 1\nmodel name\t: Other\nflags\t\t: avx512_fp16\n")
    assert cpu_info(str(f)) == {"model": "Some CPU @ 2.0GHz", "simd": ["avx2", "avx512f", "amx_tile"]}
    assert cpu_info(str(tmp_path / "absent")) is None


def test_the_repo_lock_pins_every_installed_distribution():
    pins = read_lock(ROOT / "requirements.lock")
    assert pins["torch"] == "2.14.1" and pins["numpy"]
    # editable installs (benchbench and its plugins) are the checkout itself, never pinned
    assert "benchbench-ndt" not in pins and "benchbench-ndt" not in installed_distributions()


def test_lock_drift_names_unpinned_and_moved_distributions():
    assert lock_drift({"a": "1", "b": "2"}, {"a": "1", "b": "2"}) == []
    drift = lock_drift({"a": "1"}, {"a": "1.1", "c": "3"})
    assert drift == ["a 1.1 (lock: 1)", "c 3 (lock: not pinned)"]


def test_check_lock_writes_a_lock_that_it_then_accepts_and_catches_drift(tmp_path):
    lock = tmp_path / "requirements.lock"
    run = lambda *a: subprocess.run([sys.executable, str(CHECK_LOCK), *a, str(lock)], capture_output=True,  # noqa: E731
                                    text=True, cwd=tmp_path)
    assert run("--write").returncode == 0
    ok = run()
    assert ok.returncode == 0, ok.stderr
    lines = lock.read_text().splitlines()
    lock.write_text("\n".join(line.replace(f"=={metadata.version('numpy')}", "==0.0.1") for line in lines))
    bad = run()
    assert bad.returncode == 1
    assert f"numpy {metadata.version('numpy')} (lock: 0.0.1)" in bad.stderr and "make lock" in bad.stderr


def test_environment_differences_flag_package_and_plugin_versions():
    a = environment({"benchbench-yolo": "0.1.0"})
    b = copy.deepcopy(a)
    assert environment_differences(a, b) == []
    b["packages"]["torch"] = "9.9.9"
    b["plugin_distributions"]["benchbench-yolo"] = "0.2.0"
    diff = environment_differences(a, b)
    assert f"torch: {a['packages']['torch']} vs 9.9.9" in diff and "plugin benchbench-yolo: 0.1.0 vs 0.2.0" in diff
    assert environment_differences(None, b) == ["environment not recorded for the baseline run"]


def _with_torch(run_dir: Path, dest: Path, version: str) -> Path:
    shutil.copytree(run_dir, dest)
    results = json.loads((dest / "results.json").read_text())
    results["run"]["environment"]["packages"]["torch"] = version
    (dest / "results.json").write_text(json.dumps(results))
    return dest


def test_a_run_records_its_environment_and_compare_flags_another(runs, tmp_path):
    run = json.loads((Path(runs["base"]) / "results.json").read_text())["run"]
    env = run["environment"]
    assert env["packages"]["numpy"] == metadata.version("numpy")
    assert "benchbench-ndt" in env["plugin_distributions"]
    cells = json.loads((Path(runs["base"]) / "results.json").read_text())["cells"]
    assert all("threads" in c["runtime"] for c in cells)

    other = _with_torch(Path(runs["noise"]), tmp_path / "noise-other-torch", "0.0.0")
    res = CliRunner().invoke(main, ["compare", str(runs["base"]), str(other), "--n-boot", "100"])
    assert res.exit_code in (0, 1), res.output
    assert "ran in another environment" in res.stdout and "torch" in res.stdout
    same = CliRunner().invoke(main, ["compare", str(runs["base"]), str(runs["noise"]), "--n-boot", "100", "--json"])
    assert json.loads(same.stdout)["environment_differences"] == {}


def test_leaderboard_check_flags_another_environment_and_migrates_old_databases(runs, tmp_path):
    db = tmp_path / "lb.sqlite"
    lb = lambda *a: CliRunner().invoke(main, ["leaderboard", *map(str, a)])  # noqa: E731
    assert lb("submit", runs["base"], "--db", db).exit_code == 0
    # a schema-1 database (written before environments were recorded) opens, migrated in place
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE runs DROP COLUMN environment")
    con.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    con.commit()
    con.close()
    other = _with_torch(Path(runs["noise"]), tmp_path / "noise-other-torch", "0.0.0")
    res = lb("check", other, "--db", db, "--n-boot", "100", "--json")
    assert res.exit_code in (0, 1), res.output
    (label, lines), = json.loads(res.stdout)["environment_differences"].items()
    assert lines == ["environment not recorded for the baseline run"]
    con = sqlite3.connect(db)
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("2",)
    con.close()


def test_worker_facts_name_the_threads_and_cpu_kernels_torch_trained_with():
    import torch

    from benchbench.environment import worker_facts

    facts = worker_facts()
    assert facts["torch_threads"] == torch.get_num_threads()
    assert facts["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability() and facts["torch_cpu_capability"]
    assert facts["cuda"] is torch.cuda.is_available()
