"""Fault injection, part two: hostile input and plugins that misuse their process.

A matrix that asks for terabytes, a YAML bomb, names too long for a file system, a plugin that
changes directory, deletes the files around it, prints, sets environment variables, puts rich
markup in its error or version, an observer that hangs, and a full disk. Each must end in a
one-line error (exit 2 for the user's input) or be contained, and never lose a finished cell or
touch a file outside the folders the run was given.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import resource
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from benchbench.cli import main

PLUGINS = "benchbench_toys,benchbench_hostile"
MEMORY_LIMIT = 3 * 2**30  # bytes of address space a `bench validate` of a bad matrix may use at all


@pytest.fixture(autouse=True)
def hostile_plugins(monkeypatch):
    monkeypatch.setenv("BENCHBENCH_PLUGIN_MODULES", PLUGINS)


def one_error_line(output: str, *needles: str) -> str:
    """The output's one line, checked to be an error line holding every needle (no traceback)."""
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in output, output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def bench_subprocess(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300,
                     memory: int | None = None) -> subprocess.CompletedProcess:
    """``bench ARGS`` as its own process (real file descriptors; ``memory`` caps its address space)."""
    def limit() -> None:
        if memory:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run([sys.executable, "-m", "benchbench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "BENCHBENCH_PLUGIN_MODULES": PLUGINS, **(env or {})},
                          timeout=timeout, preexec_fn=limit, check=False)


# --------------------------------------------------------------------------- bounds at validation
SIMULATED = """
name: bounds
data: {{dataset: simulated, n: {n}, size: {size}}}
generators: [{{name: physics, size: {gsize}}}]
detectors: [{{name: classic}}]
axes: {{synthetic_ratio: {ratios}}}
"""


@pytest.mark.parametrize("values, field, bound", [
    ({"n": 1_000_000_000}, "data.n", "100000"),
    ({"size": 1_000_000}, "data.size", "1024"),
    ({"n": 100_000, "size": 1024}, "data.n", "GiB"),  # each within bounds, together 300 GiB of pixels
    ({"gsize": 1_000_000}, "generators[0]", "1024"),
    ({"ratios": "[0, 1e9]"}, "axes.synthetic_ratio", "100"),
])
def test_huge_counts_and_sizes_are_refused_before_any_allocation(tmp_path, values, field, bound):
    m = tmp_path / "m.yaml"
    m.write_text(SIMULATED.format(**({"n": 60, "size": 64, "gsize": 64, "ratios": "[0, 1]"} | values)))
    res = bench_subprocess("validate", str(m), cwd=tmp_path, memory=MEMORY_LIMIT, timeout=120)
    assert res.returncode == 2, res.stderr[-2000:]
    one_error_line(res.stdout + res.stderr, f"{m}: {field}:", bound)


@pytest.mark.parametrize("snippet, needle", [
    ("seed: [" + ", ".join(map(str, range(101))) + "]", "seed"),
    ("metrics: {bootstrap: 1000000000}", "metrics.bootstrap"),
    ("samples: 1000000", "samples"),
    ("axes: {synthetic_ratio: [0, 1], guidance: [" + ", ".join(map(str, range(51))) + "]}", "axes.guidance"),
    ("seed: [" + ", ".join(map(str, range(100))) + "]\naxes: {synthetic_ratio: [0, 1, 2], "
     "guidance: [" + ", ".join(map(str, range(50))) + "]}", "cells, over the 10000"),
])
def test_list_lengths_and_the_cell_count_are_bounded(tmp_path, snippet, needle):
    m = tmp_path / "m.yaml"
    m.write_text("name: b\ndata: {dataset: toydata, n: 24}\ngenerators: [{name: g, plugin: toygen-boxes}]\n"
                 "detectors: [{name: d, plugin: toydet}]\n" + snippet + "\n")
    res = CliRunner().invoke(main, ["validate", str(m)])
    assert res.exit_code == 2
    one_error_line(res.output, needle)


@contextlib.contextmanager
def memory_cap(extra: int) -> Iterator[None]:
    """This process may allocate at most ``extra`` more bytes in the body (a MemoryError, not the OOM killer)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (psutil.Process().memory_info().vms + extra, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def test_the_simulator_checks_n_before_it_plans_a_frame():
    from benchbench.data.simulate import simulate_frames
    from benchbench.errors import UserError

    with memory_cap(2**30), pytest.raises(UserError, match=r"data\.n: n must be an integer in \[0, 100000\]"):
        simulate_frames(10**12, seed=0)  # the plan list alone would be terabytes


def test_a_yaml_alias_bomb_is_refused_without_expanding_it(tmp_path):
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    m = tmp_path / "bomb.yaml"  # 10^9 strings once expanded: 8 GB of references alone
    m.write_text("name: bomb\ndata: {dataset: toydata, n: 24}\n" + "\n".join(levels)
                 + "\ndetectors: [{name: d, plugin: toydet, epochs: 3, extra: *i}]\n")
    assert m.stat().st_size < 1000
    res = bench_subprocess("validate", str(m), cwd=tmp_path, memory=MEMORY_LIMIT, timeout=120)
    assert res.returncode == 2, res.stderr[-2000:]
    one_error_line(res.stdout + res.stderr, str(m), "expands to over 100000 values through its aliases")


def test_a_duplicate_key_names_the_key_and_both_lines(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("name: one\ndata: {dataset: toydata, n: 24}\ndetectors: [{name: d, plugin: toydet}]\n"
                 "name: two\n")
    res = CliRunner().invoke(main, ["validate", str(m)])
    assert res.exit_code == 2
    one_error_line(res.output, str(m), "key 'name' is given twice, on line 1 and line 4")
    m.write_text("name: one\ndata: {dataset: toydata, n: 24}\ndetectors: [{name: d, plugin: toydet, name: e}]\n")
    one_error_line(CliRunner().invoke(main, ["validate", str(m)]).output, "key 'name' is given twice, on line 3")


def test_yaml_merge_keys_may_still_override(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("name: merged\ndata: {dataset: toydata, n: 24}\nbase: &base {plugin: toydet, epochs: 2}\n"
                 "detectors: [{<<: *base, name: d, epochs: 3}]\n")
    from benchbench.yamlfile import load_yaml

    assert load_yaml(m.read_text())["detectors"] == [{"plugin": "toydet", "epochs": 3, "name": "d"}]


# --------------------------------------------------------------------------- names
@pytest.mark.parametrize("where", ["detector", "matrix"])
def test_a_250_character_name_fails_validate_not_the_run(tmp_path, where):
    long = "d" * 250
    m = tmp_path / "m.yaml"
    m.write_text(f"name: {long if where == 'matrix' else 'n'}\ndata: {{dataset: toydata, n: 24}}\n"
                 f"detectors: [{{name: {long if where == 'detector' else 'd'}, plugin: toydet}}]\n")
    res = CliRunner().invoke(main, ["validate", str(m)])
    assert res.exit_code == 2
    line = one_error_line(res.output, "at most 64 characters", "shorten it")
    assert len(line) < 400  # the bad value is quoted, shortened


def test_a_300_character_run_name_is_one_line(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("name: n\ndata: {dataset: toydata, n: 24}\ndetectors: [{name: d, plugin: toydet}]\n")
    res = CliRunner().invoke(main, ["run", str(m), "--run-name", "r" * 300, "--results-dir", str(tmp_path / "r")])
    assert res.exit_code == 2
    one_error_line(res.output, "--run-name: run name is 300 characters long, over 128")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, needle", [
    (["classic"], "detector name 'classic' is taken by plugin 'benchbench'"),
    (["toydet"], "detector name 'toydet' is taken by plugin 'benchbench_toys'"),
    (["x" * 300], "NAME: plugin name is 300 characters long, over 40"),
    (["mydet", "--dir", "/proc/1"], "--dir: cannot write the plugin there"),
])
def test_plugins_new_refuses_taken_long_and_unwritable_names(tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["plugins", "new", "detector", *args])
    assert res.exit_code == 2
    one_error_line(res.output, needle)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- rich markup
def test_markup_in_an_error_and_a_version_prints_literally(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("name: markup\ndata: {dataset: toydata, n: 24}\ndetectors: [{name: m, plugin: markup}]\n"
                 "metrics: {bootstrap: 0}\nsamples: 0\n")
    res = CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / "r"), "--cache-dir",
                                    str(tmp_path / "c"), "--no-report"])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output and "MarkupError" not in res.output
    assert "RuntimeError: bad [/bold] value [red]x[/red] in [config]" in res.output
    listing = CliRunner().invoke(main, ["plugins"])
    assert listing.exit_code == 0, listing.output
    assert "1.0[/]" in listing.output


def test_markup_in_progress_phases_and_table_cells_is_literal():
    import io

    from rich.console import Console

    from benchbench.analysis.report.table import cells_table
    from benchbench.progress import RunProgress

    console = Console(file=io.StringIO(), width=200)
    with RunProgress(console) as progress:
        progress.start(2, 0)
        progress.cell_done({"id": "cell[/]", "status": "ok"})
        progress.phase("unit[/]", "epoch [/bold] 1", 0.5)  # still running when the display stops
    cell = {"id": "x", "status": "failed", "cell": {"detector": "d[/]", "generator": "g[red]", "guidance": None,
                                                    "ratio": 0.5, "seed": 0}, "timings": {}}
    console.print(cells_table([cell]))
    out = console.file.getvalue()
    assert "cell[/] ok" in out and "unit[/]" in out and "epoch [/bold] 1" in out
    assert "d[/]" in out and "g[red]" in out


# --------------------------------------------------------------------------- plugins misusing their process
ROWS = """
name: hostile
seed: [0]
data: {{dataset: toydata, n: 40}}
split: {{test_fraction: 0.34}}
detectors:
  - {{name: wanderer, plugin: wanderer, to: {elsewhere}}}
  - {{name: sweeper, plugin: sweeper}}
  - {{name: chatty, plugin: chatty}}
  - {{name: ok, plugin: toydet}}
  - {{name: pathy, plugin: pathy, weights: my-weights.txt}}
metrics: {{bootstrap: 20}}
samples: 0
leaderboard: lb.sqlite
"""


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """One worker runs, in turn, a plugin that chdirs away, one that deletes every file around it and
    sets an environment variable, one that prints, the toy detector, and one with a relative path in its
    parameters; the user's folder holds the matrix and files of theirs, and the run uses relative paths.
    A failing observer watches."""
    user = tmp_path_factory.mktemp("user")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (user / "m.yaml").write_text(ROWS.format(elsewhere=elsewhere))
    (user / "precious.txt").write_text("mine")
    (user / "my-weights.txt").write_text("weights\n")
    res = bench_subprocess("run", "m.yaml", "--results-dir", "results", "--cache-dir", "cache", "--no-report",
                           "--json", "--workers", "1", cwd=user, env={"BENCHBENCH_HOSTILE_OBSERVER": "fail"})
    return {"user": user, "elsewhere": elsewhere, "res": res, "run": user / "results" / "hostile"}


def test_plugins_cannot_touch_the_users_folder_or_other_cells(hostile_run):
    res, user, run = hostile_run["res"], hostile_run["user"], hostile_run["run"]
    assert res.returncode == 0, res.stderr[-3000:]
    assert (user / "m.yaml").exists() and (user / "precious.txt").read_text() == "mine"
    mine = sorted(p.name for p in user.iterdir() if not p.name.startswith("lb.sqlite"))  # the observer's database
    assert mine == ["cache", "m.yaml", "my-weights.txt", "precious.txt", "results"]
    assert list(hostile_run["elsewhere"].iterdir()) == []  # no later job wrote where the wanderer went
    cells = json.loads((run / "results.json").read_text())["cells"]
    assert [c["status"] for c in cells] == ["ok"] * 5, [c.get("error") for c in cells]  # pathy's relative path too
    for c in cells:
        assert (run / c["artifacts"]["predictions"]).is_file()


def test_plugin_output_goes_to_the_cells_log_and_json_stays_json(hostile_run):
    res, run = hostile_run["res"], hostile_run["run"]
    assert res.returncode == 0, res.stderr[-3000:]
    results = json.loads(res.stdout)  # nothing but the JSON on stdout
    assert {c["id"] for c in results["cells"]} == {p.stem for p in (run / "cells").glob("*.json")}
    (chatty,) = [c["id"] for c in results["cells"] if c["cell"]["detector"] == "chatty"]
    log = (run / "work" / chatty / "output.log").read_text()
    for line in ("chatty: fitting {not json", "chatty: on stderr", "chatty: raw fd 1", "chatty: predicting"):
        assert line in log
    assert "chatty:" not in res.stderr


def test_a_failing_observer_is_one_warning_and_the_others_still_observe(hostile_run):
    res, user = hostile_run["res"], hostile_run["user"]
    warnings = [line for line in res.stderr.splitlines() if "benchbench_cell_finished" in line]
    assert len(warnings) == 1, res.stderr[-3000:]
    assert "plugin benchbench_hostile" in warnings[0] and "failed on 5 cells" in warnings[0]
    shown = CliRunner().invoke(main, ["leaderboard", "show", "--db", str(user / "lb.sqlite")])
    assert shown.exit_code == 0, shown.output
    assert "chatty@1.0[/]" in shown.output  # the leaderboard observer ran, and a version is not markup


def test_a_hanging_observer_does_not_hold_up_the_run(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("name: hang\nseed: [0, 1]\ndata: {dataset: toydata, n: 24}\ndetectors: [{name: d, plugin: toydet}]\n"
                 "metrics: {bootstrap: 0}\nsamples: 0\n")
    res = bench_subprocess("run", str(m), "--results-dir", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c"),
                           "--no-report", "--json", cwd=tmp_path, timeout=240,  # the observer sleeps 600 s a cell
                           env={"BENCHBENCH_HOSTILE_OBSERVER": "hang", "BENCHBENCH_OBSERVER_DEADLINE": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    warnings = [line for line in res.stderr.splitlines() if "observers did not finish" in line]
    assert len(warnings) == 1 and "within 1 s" in warnings[0], res.stderr
    assert len(json.loads((tmp_path / "r" / "hang" / "results.json").read_text())["cells"]) == 2


def test_a_job_restores_the_directory_environment_and_streams_and_gets_absolute_paths(tmp_path, monkeypatch):
    from benchbench.frames import Frame, FrameSet
    from benchbench.isolation import absolute_paths, job_state
    from benchbench.pipeline.jobs import GenJob, LabelJob

    monkeypatch.chdir(tmp_path)
    before = (os.getcwd(), dict(os.environ), sys.stdout)
    with job_state(Path("work/x")) as folder:
        assert Path.cwd() == tmp_path / "work" / "x" == folder
        os.chdir("/")
        os.environ["BENCHBENCH_LEFT_BEHIND"] = "1"
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - a plugin's doing
    assert (os.getcwd(), dict(os.environ), sys.stdout) == before
    job = absolute_paths(GenJob(None, None, {}, Path("cache"), Path("work/g"), 32))  # type: ignore[arg-type]
    assert job.cache_dir == tmp_path / "cache" and job.work_dir == tmp_path / "work" / "g"
    frames = FrameSet([Frame(Path("data/a.png"), 8, 8, "crack", meta={"mask": "data/a_mask.png", "split": "x"})])
    label = absolute_paths(LabelJob(None, "b", 0, frames, "k", Path("w"), Path("c")))  # type: ignore[arg-type]
    (frame,) = label.frames
    assert frame.path == tmp_path / "data" / "a.png" and frame.meta["mask"] == str(tmp_path / "data" / "a_mask.png")


# --------------------------------------------------------------------------- a full disk
def _enospc_under(monkeypatch, folder: Path, after: int = 0) -> None:
    """Atomic writes into ``folder`` fail with ENOSPC once ``after`` of them have succeeded."""
    real = tempfile.mkstemp
    done = []

    def mkstemp(*args, **kwargs):
        if Path(kwargs.get("dir") or ".").resolve().is_relative_to(folder.resolve()):
            if len(done) >= after:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            done.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


FULL = """
name: full
seed: [0, 1, 2]
data: {dataset: toydata, n: 24}
detectors: [{name: d, plugin: toydet}]
metrics: {bootstrap: 0}
samples: 0
"""


def _run(tmp_path: Path, *extra: str):
    return CliRunner().invoke(main, ["run", str(tmp_path / "m.yaml"), "--results-dir", str(tmp_path / "r"),
                                     "--cache-dir", str(tmp_path / "c"), "--no-report", "--quiet", *extra])


@pytest.mark.parametrize("where, after, in_process", [
    ("r/full/cells", 2, False),  # the driver writing the third cell's file
    ("c", 0, False),  # the driver caching the data's frames
    ("r/full/work", 0, True),  # a job writing its predictions (in the driver, so the patch reaches it)
])
def test_a_full_disk_is_one_line_naming_the_folder_and_loses_nothing(tmp_path, monkeypatch, where, after, in_process):
    (tmp_path / "m.yaml").write_text(FULL + ("executor: {in_process: true}\n" if in_process else ""))
    with monkeypatch.context() as patch:
        _enospc_under(patch, tmp_path / where, after)
        res = _run(tmp_path)
    assert res.exit_code == 2, res.output
    line = one_error_line(res.output, "no space left on the device", "finished cells are kept")
    assert str(tmp_path / where) in line
    cells = sorted((tmp_path / "r" / "full" / "cells").glob("*.json")) if where != "c" else []
    assert len(cells) == after
    kept = {p.name: p.read_text() for p in cells}
    res = _run(tmp_path)  # space again: the same command resumes
    assert res.exit_code == 0, res.output
    assert all((tmp_path / "r" / "full" / "cells" / name).read_text() == text for name, text in kept.items())
    assert len(json.loads((tmp_path / "r" / "full" / "results.json").read_text())["cells"]) == 3
