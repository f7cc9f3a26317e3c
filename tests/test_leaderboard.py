"""`bench leaderboard submit | show | check`, the auto-submit observer, and database failure modes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchbench.builtins.observers import benchbench_cell_finished
from benchbench.cli import main

N_BOOT = "100"


def lb(*args: object):
    return CliRunner().invoke(main, ["leaderboard", *map(str, args)])


def counts(db: Path) -> dict[str, int]:
    con = sqlite3.connect(db)
    try:
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("runs", "cells", "testsets")}
    finally:
        con.close()


@pytest.fixture
def db(tmp_path, runs) -> Path:
    """A leaderboard holding "base" and "noise"."""
    path = tmp_path / "lb.sqlite"
    for name in ("base", "noise"):
        assert lb("submit", runs[name], "--db", path).exit_code == 0
    return path


def test_submit_twice_adds_nothing(tmp_path, runs):
    path = tmp_path / "sub" / "lb.sqlite"
    first = lb("submit", runs["base"], "--db", path)
    assert first.exit_code == 0, first.output
    assert "6 cell(s) added, 0 already there" in first.stdout
    before = counts(path)
    assert before == {"runs": 1, "cells": 6, "testsets": 1}
    again = lb("submit", runs["base"], "--db", path)
    assert again.exit_code == 0 and "0 cell(s) added, 6 already there" in again.stdout
    assert counts(path) == before
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    run = con.execute("SELECT git_commit, matrix_sha256, manifest_hash, plugins FROM runs").fetchone()
    results = json.loads((runs["base"] / "results.json").read_text())["run"]
    assert run == (results["git_commit"], results["matrix_sha256"], results["data"]["manifest_hash"],
                   json.dumps(results["plugins"]))
    cell = json.loads(con.execute("SELECT result FROM cells LIMIT 1").fetchone()[0])
    assert cell["detector"]["version"] and cell["key"]
    con.close()


def test_observer_submits_each_cell_and_agrees_with_submit(runs):
    observed = runs["base"].parent.parent / "observed.sqlite"
    assert counts(observed)["cells"] == 6  # the matrix named it, so each finished cell went in
    res = lb("submit", runs["base"], "--db", observed)
    assert res.exit_code == 0 and "0 cell(s) added" in res.stdout, res.output


def test_observer_is_a_no_op_without_a_leaderboard(tmp_path, runs):
    cell = json.loads(next((runs["noise"] / "cells").glob("*.json")).read_text())
    assert cell["run"]["leaderboard"] is None
    before = sorted(p.name for p in tmp_path.iterdir())
    benchbench_cell_finished(result=cell)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_show_ranks_per_setting_with_ci(db, runs):
    assert lb("submit", runs["worse"], "--db", db).exit_code == 0
    res = lb("show", "--db", db, "--format", "json")
    assert res.exit_code == 0, res.output
    entries = json.loads(res.stdout)["entries"]
    assert len(entries) == 3 * 3  # runs x settings; one data manifest, so one ranking
    assert [e["rank"] for e in entries] == list(range(1, 10))
    means = [e["metrics"]["mAP50_95"]["mean"] for e in entries]
    assert means == sorted(means, reverse=True)
    assert {e["run"] for e in entries[-3:]} == {"worse"}
    for e in entries:
        m = e["metrics"]["mAP50_95"]
        assert e["seeds"] == [0, 1] and m["n"] == 2 and m["ci"][0] <= m["mean"] <= m["ci"][1]
    only = json.loads(lb("show", "--db", db, "--format", "json", "--generator", "real").stdout)["entries"]
    assert len(only) == 3 and all(e["generator"] is None for e in only)
    md = lb("show", "--db", db, "--format", "markdown", "--detector", "det")
    assert md.exit_code == 0 and "| # | detector |" in md.stdout and md.stdout.count("| det (noisydet@1) |") == 9
    table = lb("show", "--db", db)
    assert table.exit_code == 0 and "base@" in table.stdout and "mAP50_95 [95% CI]" in table.stdout
    assert "No entries." in lb("show", "--db", db, "--detector", "nope").stdout


def check(db: Path, run: Path, *args: str):
    return CliRunner().invoke(main, ["leaderboard", "check", str(run), "--db", str(db), "--n-boot", N_BOOT, *args])


def test_check_flags_a_clear_drop(db, runs):
    res = check(db, runs["worse"])
    assert res.exit_code == 1, res.output
    assert "REGRESSION" in res.stdout and "worse" in res.stdout
    data = json.loads(check(db, runs["worse"], "--json", "--against", "latest").stdout)
    assert data["regression"] and {r["state"] for r in data["rows"]} == {"worse"}
    assert {r["metric"] for r in data["rows"]} == {"mAP50_95"}


@pytest.mark.parametrize("candidate, reference", [("noise", "base"), ("base", "noise")])
def test_check_passes_noise_in_both_directions(tmp_path, runs, candidate, reference):
    path = tmp_path / "one.sqlite"
    assert lb("submit", runs[reference], "--db", path).exit_code == 0
    res = check(path, runs[candidate], "--json", "--metric", "mAP50_95", "--metric", "mAP50")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert {r["state"] for r in data["rows"]} <= {"same", "~"}
    assert {r["reference"].split("@")[0] for r in data["rows"]} == {reference}


def test_check_against_a_run_id_or_name(db, runs):
    run_id = json.loads(lb("show", "--db", db, "--format", "json").stdout)["entries"][0]["run_id"]
    for ref in (run_id[:8], "noise"):
        res = check(db, runs["worse"], "--against", ref, "--json")
        assert res.exit_code == 1, res.output
    res = check(db, runs["worse"], "--against", "no-such-run")
    assert res.exit_code == 2 and "no run 'no-such-run'" in res.stderr


def test_check_with_nothing_comparable_is_a_user_error(tmp_path, runs):
    path = tmp_path / "self.sqlite"
    assert lb("submit", runs["base"], "--db", path).exit_code == 0
    res = check(path, runs["base"])  # a run is never its own reference
    assert res.exit_code == 2 and "nothing comparable" in res.stderr and res.stderr.count("\n") == 1


def test_reading_a_missing_database_creates_nothing(tmp_path, runs):
    path = tmp_path / "missing.sqlite"
    for res in (lb("show", "--db", path), check(path, runs["base"])):
        assert res.exit_code == 2 and "no leaderboard database" in res.stderr
    assert not path.exists()


@pytest.mark.parametrize("content", [b"this is not a database\n" * 64, b"SQLite format 3\x00" + b"\xff" * 4000])
def test_corrupt_database_is_reported_and_left_alone(tmp_path, runs, content):
    path = tmp_path / "corrupt.sqlite"
    path.write_bytes(content)
    for res in (lb("submit", runs["base"], "--db", path), lb("show", "--db", path), check(path, runs["base"])):
        assert res.exit_code == 2, res.output
        assert res.stderr.count("\n") == 1 and "corrupt or not SQLite" in res.stderr and "Traceback" not in res.output
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.sqlite"]


def test_foreign_sqlite_file_is_not_touched(tmp_path, runs):
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (x)")
    con.commit()
    con.close()
    before = path.read_bytes()
    res = lb("submit", runs["base"], "--db", path)
    assert res.exit_code == 2 and "not a benchbench leaderboard" in res.stderr
    assert path.read_bytes() == before


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's writer: an open EXCLUSIVE transaction with an uncommitted row."""
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    con.execute("BEGIN EXCLUSIVE")
    con.execute("INSERT INTO meta VALUES ('held-by-test', '1')")
    return con


def test_locked_database_times_out_cleanly_and_loses_nothing(db, runs):
    before = counts(db)
    locker = _hold_write_lock(db)
    try:
        t0 = time.monotonic()
        res = lb("submit", runs["worse"], "--db", db, "--timeout", "0.3")
        assert res.exit_code == 2 and res.stderr.count("\n") == 1
        assert "locked by another process" in res.stderr and "nothing was written" in res.stderr
        assert time.monotonic() - t0 < 30
        # WAL: readers are not blocked by the writer.
        assert lb("show", "--db", db, "--format", "json").exit_code == 0
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert counts(db) == before
    assert lb("submit", runs["worse"], "--db", db).exit_code == 0
    assert counts(db)["cells"] == before["cells"] + 6


def test_locked_database_is_waited_for(db, runs):
    locker = _hold_write_lock(db)
    release = threading.Timer(0.5, lambda: (locker.execute("COMMIT"), locker.close()))
    release.start()
    try:
        res = lb("submit", runs["worse"], "--db", db, "--timeout", "30")
    finally:
        release.join()
    assert res.exit_code == 0, res.output
    assert "6 cell(s) added" in res.stdout


# --------------------------------------------------------------------------- HTML in a real browser
def test_html_page_is_self_contained_and_shows_the_table(db, tmp_path, chromium):
    out = tmp_path / "page" / "leaderboard.html"
    res = lb("show", "--db", db, "--format", "html", "--out", out)
    assert res.exit_code == 0, res.output
    page = out.read_text()
    assert "data:image/png;base64," in page
    assert "http://" not in page and "https://" not in page and "<script" not in page  # opens offline
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert '<table id="leaderboard-0" class="leaderboard">' in dom
    assert dom.count("<tr>") == 1 + 6  # header + base and noise, 3 settings each
    assert "base@" in dom and "noise@" in dom and "<img" in dom


def test_html_default_goes_beside_the_database(db):
    res = lb("show", "--db", db, "--format", "html")
    assert res.exit_code == 0 and (db.parent / "leaderboard.html").stat().st_size > 0
