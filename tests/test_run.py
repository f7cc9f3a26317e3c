"""End-to-end `bench run` with the toy plugins: results.json field by field, resume, failures."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import benchbench_toys
import pytest
from click.testing import CliRunner

from benchbench.cli import main
from benchbench.records.store import SCHEMA_VERSION


def write_matrix(tmp_path: Path, det_extra: str = "") -> Path:
    return benchbench_toys.write_matrix(tmp_path, name="toyrun", seeds=[0, 1], ratios=[0, 0.5, 1], bootstrap=50,
                                        det=det_extra)


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.setenv("BENCHBENCH_PLUGIN_MODULES", "benchbench_toys")


def bench(tmp_path, *args):
    return CliRunner().invoke(main, ["run", *map(str, args), "--results-dir", str(tmp_path / "results"),
                                     "--cache-dir", str(tmp_path / "cache"), "--no-report"])


def test_run_end_to_end_results_json(tmp_path, toys):
    m = write_matrix(tmp_path)
    res = bench(tmp_path, m)
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "results" / "toyrun" / "results.json").read_text())
    run = data["run"]
    assert data["schema_version"] == SCHEMA_VERSION == 2
    for key in ("git_commit", "benchbench_version", "plugins", "python", "platform", "matrix_sha256",
                "seeds", "started", "finished", "data", "generation", "metric_directions"):
        assert key in run, key
    assert run["complete"] is True and run["seeds"] == [0, 1]
    assert run["plugins"]["benchbench_toys"] == "1.0"
    assert len(run["matrix_sha256"]) == 64
    # cells: 2 baselines + tg: 2 ratios x 2 guidance x 2 seeds + tb (no guidance): 2 x 2
    cells = data["cells"]
    assert len(cells) == 2 + 8 + 4
    assert len({c["id"] for c in cells}) == len(cells)
    assert all(c["status"] == "ok" for c in cells), [c["error"] for c in cells]
    tb = [c for c in cells if c["cell"]["generator"] == "tb"]
    assert all(c["cell"]["guidance"] is None for c in tb)
    n_train = run["data"]["n_train"]
    for c in cells:
        m_ = c["metrics"]
        for name in ("mAP50_95", "mAP50", "AP10", "AP30"):
            v, (lo, hi) = m_[name]["value"], m_[name]["ci"]
            assert 0 <= lo <= v <= hi <= 1, (name, v, lo, hi)
        assert set(m_["coco"]) >= {"AP", "AP50", "AR100", "ARl"}
        assert m_["mAP50"]["value"] == m_["coco"]["AP50"]
        assert set(m_["frame"]) >= {"precision", "recall", "f1", "auroc"}
        assert c["timings"]["fit"] >= 0 and c["timings"]["total"] >= c["timings"]["fit"]
        counts = c["counts"]
        assert counts["real_train_pos"] + counts["real_train_neg"] == n_train
        assert c["detector"]["plugin"] == "toydet" and c["info"]["toy_n_train"] >= n_train
        if c["cell"]["generator"]:
            syn = counts["synthetic_pos"] + counts["synthetic_neg"] + counts["synthetic_pos_dropped"]
            assert syn == round(c["cell"]["ratio"] * n_train)
            assert c["generator"]["fingerprint"]
    # the toy detector finds bright lines: a real signal, not chance
    base = [c for c in cells if c["cell"]["ratio"] == 0]
    assert all(c["metrics"]["AP10"]["value"] > 0.5 for c in base)
    # nested generation: max ratio x n_train per (generator, guidance, seed)
    gen = run["generation"]
    assert gen["planned_frames"] == (2 * 2 + 1 * 2) * n_train
    assert gen["generated"] == gen["planned_frames"] and gen["cached"] == 0
    assert gen["naive_frames"] == (2 * 2 + 2) * (n_train // 2 + n_train)
    # summary over seeds
    assert {(s["generator"], s["ratio"]) for s in data["summary"]} >= {(None, 0.0), ("tg", 0.5), ("tb", 1.0)}
    assert all(s["mAP50"]["n"] == 2 for s in data["summary"])
    # one real-vs-synthetic grid per (generator, guidance)
    samples = sorted(p.name for p in (tmp_path / "results" / "toyrun" / "samples").glob("*.png"))
    assert samples == ["tb_g-.png", "tg_g7.png", "tg_g9.png"]
    # each cell file is the same record
    for c in cells:
        assert json.loads((tmp_path / "results" / "toyrun" / "cells" / f"{c['id']}.json").read_text()) == c

    # second run: everything resumed, nothing generated or fitted again
    res2 = bench(tmp_path, m)
    assert res2.exit_code == 0
    data2 = json.loads((tmp_path / "results" / "toyrun" / "results.json").read_text())
    assert [c["metrics"] for c in data2["cells"]] == [c["metrics"] for c in cells]
    assert data2["run"]["generation"]["generated"] == 0
    for c in cells:
        fits = (tmp_path / "results" / "toyrun" / "work" / c["id"] / "fit_count").read_text().split()
        assert len(fits) == 1, c["id"]

    # a new run folder sharing the cache generates nothing
    res3 = CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / "r2"), "--cache-dir",
                                     str(tmp_path / "cache"), "--no-report", "--json"])
    assert res3.exit_code == 0
    out = json.loads(res3.stdout)
    assert out["run"]["generation"]["generated"] == 0
    assert out["run"]["generation"]["cached"] == gen["planned_frames"]
    assert [c["metrics"] for c in out["cells"]] == [c["metrics"] for c in cells]


def test_changed_detector_params_invalidate_only_their_cells(tmp_path, toys):
    m = write_matrix(tmp_path)
    assert bench(tmp_path, m).exit_code == 0
    work = tmp_path / "results" / "toyrun" / "work"
    m.write_text(m.read_text().replace("plugin: toydet}", "plugin: toydet, sleep: 0.0001}"))
    assert bench(tmp_path, m).exit_code == 0
    counts = [len((d / "fit_count").read_text().split()) for d in work.iterdir() if (d / "fit_count").exists()]
    assert counts and all(n == 2 for n in counts)


def test_detector_generators_skip_unused_generators_and_teacher(tmp_path, toys):
    m = write_matrix(tmp_path, det_extra=", generators: [tb]")
    res = bench(tmp_path, m)
    assert res.exit_code == 0, res.output
    run = json.loads((tmp_path / "results" / "toyrun" / "results.json").read_text())
    cells = run["cells"]
    assert sorted({c["cell"]["generator"] or "real" for c in cells}) == ["real", "tb"]
    assert len(cells) == 2 + 2 * 2  # baselines + tb x 2 ratios x 2 seeds
    notes = run["run"]["plan_notes"]
    assert any("generator(s) tg" in n for n in notes) and not any("teacher" in n for n in notes)
    largest = [c["cell"] for c in cells if c["cell"]["ratio"] == 1]  # one tb task per seed, sized for ratio 1
    assert run["run"]["generation"]["planned_frames"] == sum(c["n_syn_pos"] + c["n_syn_neg"] for c in largest) > 0


def test_detector_ratios_without_baseline_cannot_be_taught(tmp_path, toys):
    m = write_matrix(tmp_path, det_extra=", ratios: [0.5, 1]")  # tg gives no boxes: needs the r0 teacher
    res = bench(tmp_path, m)
    assert res.exit_code == 2
    assert "detectors[0].ratios" in res.output and "add 0 to its ratios" in res.output
    m = write_matrix(tmp_path, det_extra=", ratios: [0, 1]")
    res = bench(tmp_path, m)
    assert res.exit_code == 0, res.output
    ratios = {c["cell"]["ratio"] for c in json.loads((tmp_path / "results" / "toyrun" / "results.json")
                                                       .read_text())["cells"]}
    assert ratios == {0, 1}


def test_failing_plugin_fails_its_cells_only(tmp_path, toys):
    m = write_matrix(tmp_path, det_extra=", fail_on: r0.5")
    res = bench(tmp_path, m)
    assert res.exit_code == 1
    data = json.loads((tmp_path / "results" / "toyrun" / "results.json").read_text())
    failed = [c for c in data["cells"] if c["status"] == "failed"]
    assert failed and all("r0.5" in c["id"] for c in failed)
    assert all("toy detector asked to fail" in c["error"] for c in failed)
    assert all(c["status"] == "ok" for c in data["cells"] if "r0.5" not in c["id"])
    assert "failed:" in res.stderr
    # failures are retried on the next run, successes are not
    write_matrix(tmp_path)
    res = bench(tmp_path, m)
    assert res.exit_code == 0


def test_failing_generator_fails_dependent_cells(tmp_path, toys):
    m = write_matrix(tmp_path)
    m.write_text(m.read_text().replace("plugin: toygen}", "plugin: toygen, fail: true}"))
    res = bench(tmp_path, m)
    assert res.exit_code == 1
    data = json.loads((tmp_path / "results" / "toyrun" / "results.json").read_text())
    for c in data["cells"]:
        if c["cell"]["generator"] == "tg":
            assert c["status"] == "failed" and "toy generator asked to fail" in c["error"]
        else:
            assert c["status"] == "ok"


def test_dry_run_prints_plan(tmp_path, toys):
    m = write_matrix(tmp_path)
    res = bench(tmp_path, m, "--dry-run")
    assert res.exit_code == 0, res.output
    assert "14 cells" in res.output and "generation plan" in res.output
    assert "frames to generate" in res.output
    assert not (tmp_path / "results").exists()
    # after a run with one cell failed, the dry run says which cells a resume keeps
    m.write_text(m.read_text().replace("plugin: toygen}", "plugin: toygen, fail: true}"))
    assert bench(tmp_path, m).exit_code == 1  # tg's 8 cells fail
    m = write_matrix(tmp_path)
    res = bench(tmp_path, m, "--dry-run")
    assert "resume: 6 of 14 cells are finished" in res.output and "8 would run" in res.output, res.output
    assert "resume:" not in bench(tmp_path, m, "--dry-run", "--fresh").output


def test_process_workers_match_sequential(tmp_path, toys):
    m = write_matrix(tmp_path)
    assert bench(tmp_path, m).exit_code == 0
    res = CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / "par"), "--cache-dir",
                                    str(tmp_path / "cache2"), "--no-report", "--workers", "2", "--quiet"])
    assert res.exit_code == 0, res.output
    seq = json.loads((tmp_path / "results" / "toyrun" / "results.json").read_text())
    par = json.loads((tmp_path / "par" / "toyrun" / "results.json").read_text())
    assert [c["metrics"] for c in seq["cells"]] == [c["metrics"] for c in par["cells"]]


def test_resume_after_sigkill(tmp_path, toys):
    m = write_matrix(tmp_path, det_extra=", sleep: 0.4")
    env = {**os.environ, "BENCHBENCH_PLUGIN_MODULES": "benchbench_toys"}
    cmd = [sys.executable, "-m", "benchbench.cli", "run", str(m), "--results-dir", str(tmp_path / "results"),
           "--cache-dir", str(tmp_path / "cache"), "--no-report", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cells_dir = tmp_path / "results" / "toyrun" / "cells"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(cells_dir.glob("*.json"))) < 4:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {p.stem for p in cells_dir.glob("*.json")}
    assert 4 <= len(done_before) < 14
    subprocess.run(cmd, env=env, check=True, timeout=300)
    data = json.loads((tmp_path / "results" / "toyrun" / "results.json").read_text())
    assert len(data["cells"]) == 14 and all(c["status"] == "ok" for c in data["cells"])
    for cid in done_before:
        fits = (tmp_path / "results" / "toyrun" / "work" / cid / "fit_count").read_text().split()
        assert len(fits) == 1, f"{cid} was recomputed"
    # same metrics as an uninterrupted run
    ref = CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / "ref"), "--cache-dir",
                                    str(tmp_path / "cache-ref"), "--no-report", "--quiet"])
    assert ref.exit_code == 0
    ref_data = json.loads((tmp_path / "ref" / "toyrun" / "results.json").read_text())
    assert [c["metrics"] for c in data["cells"]] == [c["metrics"] for c in ref_data["cells"]]


def test_progress_keeps_a_line_per_running_unit():
    from io import StringIO

    from rich.console import Console

    from benchbench.progress import RunProgress

    with RunProgress(Console(file=StringIO())) as p:
        p.start(2, 0)
        p.phase("a", "epoch 1/3", 1 / 3)
        p.phase("b", "batch 1/9", None)
        p.phase("a", "epoch 2/3", 2 / 3)
        lines = {t.description: t for t in p.progress.tasks}
        assert set(lines) == {"cells", "a", "b"} and lines["a"].fields["phase"] == "epoch 2/3"
        assert lines["a"].completed == pytest.approx(2 / 3)
        p.cell_done({"id": "a", "status": "ok"})
        p.unit_done("b")
        assert [t.description for t in p.progress.tasks] == ["cells"] and p.progress.tasks[0].completed == 1


def test_progress_in_a_log_is_a_line_per_finished_unit():
    # `nohup bench run … &` writes to a file, where a live display would print nothing until the end
    from io import StringIO

    from rich.console import Console

    from benchbench.progress import LogProgress, RunProgress, progress_for

    assert isinstance(progress_for(Console(file=StringIO(), force_terminal=True)), RunProgress)
    log = Console(file=StringIO(), width=60)  # narrower than a line: a log line is never wrapped
    p = progress_for(log, "AP30")
    assert isinstance(p, LogProgress)
    with p:
        p.start(3, 1)
        p.phase("gen__ddpm__s0", "frame 1/9", 0.1)
        p.phase("gen__ddpm__s0", "frame 2/9", 0.2)
        p.unit_done("gen__ddpm__s0")
        p.unit_done("never-started")
        p.cell_done({"id": "yolo__[x]", "status": "ok", "metrics": {"AP30": {"value": 0.71234, "ci": [0.6, 0.8]}},
                     "timings": {"fit": 283.6}})
        p.cell_done({"id": "detr__r1", "status": "failed", "error": "ValueError: boom"})
    lines = [ln.split(" ", 1)[1] for ln in log.file.getvalue().splitlines()]
    assert lines == ["3 cells: 1 finished, 2 to run", "done gen__ddpm__s0 (0 s)",
                     "[2/3] yolo__[x] ok AP30 0.712, fit 284 s", "[3/3] detr__r1 FAILED: ValueError: boom"]


def test_operating_threshold_is_chosen_on_validation_frames(tmp_path, toys):
    # The template's split with a validation share (a second `split` key would be refused as a duplicate).
    m = benchbench_toys.write_matrix(tmp_path, name="valrun", seeds=[0], ratios=[0], bootstrap=20)
    m.write_text(m.read_text().replace("split: {test_fraction: 0.34}",
                                       "split: {test_fraction: 0.34, val_fraction: 0.3}"))
    res = bench(tmp_path, m)
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "results" / "valrun" / "results.json").read_text())
    assert data["run"]["data"]["n_val"] > 0
    for c in data["cells"]:
        op = c["metrics"]["operating_point"]
        assert op["source"] == "validation F1-max" and 0 <= op["val_f1"] <= 1
        assert c["timings"]["predict_val"] >= 0
