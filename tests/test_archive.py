"""`bench run --archive`: a run resumed on a machine with no run folder and no cache, from the archive alone."""

import json
import shutil

import benchbench_toys
import pytest
from click.testing import CliRunner

from benchbench.cli import main


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.setenv("BENCHBENCH_PLUGIN_MODULES", "benchbench_toys")


def _run(tmp_path, m, machine: str, *extra: str):
    """`bench run` on a machine of its own: its results and cache folders are new unless reused by name."""
    return CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / machine / "r"),
                                     "--cache-dir", str(tmp_path / machine / "c"), "--no-report",
                                     "--archive", str(tmp_path / "archive"), *extra])


def _cells(tmp_path, machine: str) -> dict:
    res = json.loads((tmp_path / machine / "r" / "arch" / "results.json").read_text())
    return {c["id"]: c for c in res["cells"]}


@pytest.fixture
def archived(tmp_path, toys):
    """A toy run (teacher-labelled and mask-boxed generators, two ratios) with its archive."""
    m = benchbench_toys.write_matrix(tmp_path, name="arch", seeds=[0], ratios=[0, 1], bootstrap=0)
    res = _run(tmp_path, m, "first")
    assert res.exit_code == 0, res.output
    return m, _cells(tmp_path, "first")


def test_a_fresh_machine_resumes_from_the_archive_without_refitting(tmp_path, archived):
    m, first = archived
    assert sorted(p.stem for p in (tmp_path / "archive" / "cells").glob("*.json")) == sorted(first)
    assert list((tmp_path / "archive" / "labels").glob("*.json")), "the teacher's labels are archived"
    res = _run(tmp_path, m, "second")
    assert res.exit_code == 0, res.output
    second = _cells(tmp_path, "second")
    # the same records, timestamps included: nothing was fitted again
    assert {i: (c["finished"], c["metrics"]) for i, c in second.items()} == \
           {i: (c["finished"], c["metrics"]) for i, c in first.items()}
    dry = CliRunner().invoke(main, ["run", str(m), "--dry-run", "--results-dir", str(tmp_path / "third" / "r"),
                                    "--cache-dir", str(tmp_path / "third" / "c"), "--archive",
                                    str(tmp_path / "archive")])
    assert f"resume: {len(first)} of {len(first)} cells are finished" in " ".join(dry.output.split())


def test_a_synthetic_cell_missing_from_the_archive_uses_the_archived_teacher_labels(tmp_path, archived):
    m, first = archived
    taught = next(i for i, c in first.items() if c.get("teacher"))
    (tmp_path / "archive" / "cells" / f"{taught}.json").unlink()
    res = _run(tmp_path, m, "second")
    assert res.exit_code == 0, res.output
    second = _cells(tmp_path, "second")
    assert second[taught]["finished"] != first[taught]["finished"]  # it ran again, on this machine
    assert second[taught]["teacher"] == first[taught]["teacher"]  # with the labels its teacher made there
    assert all(second[i]["finished"] == c["finished"] for i, c in first.items() if i != taught)
    assert (tmp_path / "archive" / "cells" / f"{taught}.json").is_file()  # and it is archived again


def test_a_teacher_whose_labels_are_not_archived_is_fitted_again(tmp_path, archived):
    m, first = archived
    taught = next(i for i, c in first.items() if c.get("teacher"))
    teacher = next(i for i, c in first.items() if c["cell"]["generator"] is None)
    (tmp_path / "archive" / "cells" / f"{taught}.json").unlink()
    shutil.rmtree(tmp_path / "archive" / "labels")
    res = _run(tmp_path, m, "second")
    assert res.exit_code == 0, res.output
    second = _cells(tmp_path, "second")
    assert second[teacher]["finished"] != first[teacher]["finished"]  # refitted: it has a model again
    assert second[taught]["status"] == "ok"
    assert all(second[i]["finished"] == c["finished"] for i, c in first.items() if i not in (taught, teacher))


def test_a_refitted_teacher_labels_every_set_again(tmp_path, archived):
    """Labels archived from a teacher's earlier fit do not serve a run that fits it again (on another machine
    the fit differs): every cell it teaches learns from the new fit, the one its new record reports."""
    m, first = archived
    files = {json.loads(f.read_text())["task"]: f for f in (tmp_path / "archive" / "labels").glob("*.json")}
    assert len(files) == 2, "the toy teacher labels two generated sets"
    (kept, kept_file), (lost, lost_file) = sorted(files.items())
    # a cell's id begins with its detector and its task's generator and guidance (tg__g7__s0 -> det__tg__g7__)
    taught = {task: next(i for i in first if i.startswith(f"det__{task.rsplit('__', 1)[0]}__")) for task in files}
    for cell in taught.values():
        (tmp_path / "archive" / "cells" / f"{cell}.json").unlink()
    lost_file.unlink()  # so the teacher is fitted again
    stale = json.loads(kept_file.read_text())  # and the set it still has archived says: no crack anywhere
    kept_file.write_text(json.dumps({**stale, "boxes": [[] for _ in stale["boxes"]]}))
    res = _run(tmp_path, m, "second")
    assert res.exit_code == 0, res.output
    second = _cells(tmp_path, "second")
    assert second[taught[kept]]["teacher"] == first[taught[kept]]["teacher"]  # the refit's labels, not the stale
    assert json.loads(kept_file.read_text())["boxes"] == stale["boxes"]  # and the archive holds them again


def test_archived_labels_of_other_frames_fail_the_cells_naming_the_fix(tmp_path, archived):
    m, first = archived
    taught = next(i for i, c in first.items() if c.get("teacher"))
    (tmp_path / "archive" / "cells" / f"{taught}.json").unlink()
    for f in (tmp_path / "archive" / "labels").glob("*.json"):  # the right teacher, other frames' key
        f.rename(f.with_name("0" * 64 + f.name))
    res = _run(tmp_path, m, "second")
    assert res.exit_code == 1, res.output
    cell = _cells(tmp_path, "second")[taught]
    assert cell["status"] == "failed"
    assert "came from the archive without its model" in cell["error"] and "run again to refit it" in cell["error"]


def test_a_damaged_archived_record_is_a_user_error_naming_the_file(tmp_path, archived):
    m, first = archived
    bad = tmp_path / "archive" / "cells" / f"{next(iter(first))}.json"
    bad.write_text("{not json")
    res = _run(tmp_path, m, "second")
    assert res.exit_code == 2
    assert str(bad) in " ".join(res.output.split()) and "restore it from version control" in res.output


def test_fresh_ignores_the_archive_and_the_archive_follows_the_new_records(tmp_path, archived):
    m, first = archived
    res = _run(tmp_path, m, "first", "--fresh")
    assert res.exit_code == 0, res.output
    again = _cells(tmp_path, "first")
    assert all(again[i]["finished"] != c["finished"] for i, c in first.items())  # --fresh refits everything
    archived_now = json.loads((tmp_path / "archive" / "cells" / f"{next(iter(first))}.json").read_text())
    assert archived_now["finished"] == again[next(iter(first))]["finished"]  # and the archive follows it


def test_a_failed_record_is_not_archived(tmp_path, archived):
    from benchbench.records.archive import Archive

    _, first = archived
    record = dict(next(iter(first.values())), status="failed", error="boom", finished="later")
    Archive(tmp_path / "archive").save_cell(record)
    kept = json.loads((tmp_path / "archive" / "cells" / f"{record['id']}.json").read_text())
    assert kept["status"] == "ok" and kept["finished"] != "later"  # the next run still finds the finished one


def test_cells_finished_before_the_archive_was_named_are_archived_on_the_next_run(tmp_path, toys):
    m = benchbench_toys.write_matrix(tmp_path, name="arch", seeds=[0], ratios=[0, 1], bootstrap=0)
    res = CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / "first" / "r"),
                                    "--cache-dir", str(tmp_path / "first" / "c"), "--no-report"])
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "archive").exists()
    res = _run(tmp_path, m, "first")
    assert res.exit_code == 0, res.output
    assert sorted(p.stem for p in (tmp_path / "archive" / "cells").glob("*.json")) == \
           sorted(_cells(tmp_path, "first"))
