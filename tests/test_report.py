"""Plots and report.md: written by `bench run` and `bench report`, real PNGs of the documented size."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from benchbench.analysis.report.build import build_report
from benchbench.analysis.report.plots import PIXELS, leaderboard_png
from benchbench.analysis.stats import SeedStat
from benchbench.cli import main

EXPECTED = ["AP10_vs_ratio__det.png", "errors__det.png", "guidance_heatmap__det__tg.png", "mAP50_95_vs_ratio__det.png",
            "mAP50_vs_ratio__det.png", "pr_curves__r0.png", "pr_curves__r1.png"]
WIDE = {"errors__det.png", "pr_curves__r0.png", "pr_curves__r1.png"}  # sized to their content


@pytest.fixture
def run_copy(runs, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(runs["base"], dst)
    return dst


def assert_plot(path, square: bool = True) -> None:
    assert path.stat().st_size > 0
    with Image.open(path) as im:
        assert im.format == "PNG" and (im.size == PIXELS or not square)
        pixels = np.asarray(im.convert("L"), dtype=float)
    assert pixels.std() > 0  # something is drawn


def test_bench_run_writes_the_report(runs):
    root = runs["base"]  # made by `bench run` without --no-report
    assert sorted(p.name for p in (root / "plots").glob("*.png")) == EXPECTED
    assert (root / "report.md").is_file()


def test_build_report_plots_and_markdown(run_copy):
    shutil.rmtree(run_copy / "plots", ignore_errors=True)
    (run_copy / "samples").mkdir()
    Image.new("RGB", (64, 32), (200, 30, 30)).save(run_copy / "samples" / "real_vs_synthetic.png")
    path = build_report(run_copy)
    assert path == run_copy / "report.md"
    plots = sorted((run_copy / "plots").glob("*.png"))
    assert [p.name for p in plots] == EXPECTED
    for p in plots:
        assert_plot(p, square=p.name not in WIDE)
    text = path.read_text()
    for p in plots:
        assert f"](plots/{p.name})" in text
    assert "](samples/real_vs_synthetic.png)" in text
    assert "| detector | generator | guidance | ratio | seeds | mAP50_95 | mAP50 |" in text
    assert text.count("| det | tg | 7 | 1 | ") == 4  # two summary tables (headline, crack-scale) + two seeds
    assert "Failed cells" not in text


def test_report_lists_failed_cells(run_copy):
    results = json.loads((run_copy / "results.json").read_text())
    cell = results["cells"][-1]
    cell.update(status="failed", error="RuntimeError: toy detector asked to fail")
    cell.pop("metrics")
    (run_copy / "results.json").write_text(json.dumps(results))
    text = build_report(run_copy).read_text()
    assert "## Failed cells" in text and f"`{cell['id']}`: RuntimeError: toy detector asked to fail" in text
    assert "5/6 ok" in text


def test_bench_report_command(run_copy, tmp_path):
    res = CliRunner().invoke(main, ["report", str(run_copy)])
    assert res.exit_code == 0, res.output
    assert "report.md (7 plot(s)" in res.stdout and "report.html" in res.stdout
    missing = CliRunner().invoke(main, ["report", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "no results.json" in missing.stderr


def test_leaderboard_png():
    png = leaderboard_png(["a", "b", "none"], [SeedStat(0.5, 0.4, 0.6, 3), SeedStat(0.3, 0.3, 0.3, 1), None],
                          "mAP50_95", "title")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000


def test_one_seed_shows_no_spread():
    from benchbench.records.summary import mean_std_text

    assert mean_std_text({"mean": 0.3712, "std": 0.0, "n": 1}) == "0.371"
    assert mean_std_text({"mean": 0.3712, "std": 0.0171, "n": 3}, " ± ") == "0.371 ± 0.017"
    assert mean_std_text(None) == "–"


EVIL = "<img src=x onerror=alert(1)>[link](http://evil)|x"


def _poison(run_dir) -> None:
    """Names taken from plugins and results, as a hostile or careless one could write them."""
    path = run_dir / "results.json"
    data = json.loads(path.read_text())
    data["run"]["name"] = "# " + EVIL
    data["run"]["plugins"] = {EVIL: "1"}
    for c in data["cells"]:
        c["cell"]["detector"] = EVIL
        c["status"], c["error"] = "failed", "RuntimeError: " + EVIL
    data["summary"] = []
    path.write_text(json.dumps(data))


def _assert_escaped(text: str) -> None:
    for active in (r"<img", r"\[link", r"\|x"):  # each only ever preceded by a backslash
        assert not re.search(r"(?<!\\)" + active, text), active
    assert "\\<img src=x onerror=alert(1)\\>\\[link\\](http://evil)\\|x" in text


def test_report_md_escapes_names_from_results(run_copy):
    _poison(run_copy)
    text = build_report(run_copy).read_text()
    _assert_escaped(text)
    assert not text.startswith("# #")  # the run's name cannot add a heading level


def test_leaderboard_markdown_escapes_names(run_copy, tmp_path):
    data = json.loads((run_copy / "results.json").read_text())
    for c in data["cells"]:
        c["cell"]["detector"] = EVIL
    (run_copy / "results.json").write_text(json.dumps(data))
    db = tmp_path / "lb.sqlite"
    assert CliRunner().invoke(main, ["leaderboard", "submit", str(run_copy), "--db", str(db)]).exit_code == 0
    res = CliRunner().invoke(main, ["leaderboard", "show", "--format", "markdown", "--db", str(db)])
    assert res.exit_code == 0, res.output
    _assert_escaped(res.output)


def test_report_shows_the_crack_scale_metrics(run_copy):
    text = build_report(run_copy).read_text()
    for heading in ("## Crack-scale results: mean ± std over seeds", "## AP per crack size range",
                    "## Operating point, mask scores and error breakdown", "## Per test specimen (mean over seeds)",
                    "## PR curves", "## Worst test frames"):
        assert heading in text, heading
    assert "| det · real only · r0 | hairline [0, 4.5] | 24 |" in text
    assert "-1.000" not in text  # ranges without cracks are undefined, not averaged as -1
    assert "matrix score_threshold" in text or "(matrix)" in text  # the toy split has no validation frames


def _html_images(page: str) -> list[bytes]:
    import base64
    import re

    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_report_html_is_self_contained_and_renders(run_copy, tmp_path, chromium):
    import io
    import subprocess

    build_report(run_copy)
    page = (run_copy / "report.html").read_text()
    assert "http://" not in page and "https://" not in page and "<script" not in page  # opens offline
    assert not re.search(r'(src|href)="(?!data:)', page)  # every image is inline
    images = _html_images(page)
    from benchbench.analysis.genscore.tables import images as score_images

    scores = json.loads((run_copy / "results.json").read_text()).get("generator_scores")
    pictures = len(score_images(scores)) if scores else 0  # closest pairs per set, score-vs-gain plots
    assert len(images) == page.count("<img") == len(EXPECTED) + 3 + pictures  # plots, a gallery per setting
    for png in images:
        with Image.open(io.BytesIO(png)) as im:
            im.verify()
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--dump-dom", (run_copy / "report.html").as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert "<h2>Per test specimen (mean over seeds)</h2>" in dom and dom.count("<img") == len(images)
    assert "<td class=\"l\">det · real only · r0</td>" in dom


def test_markdown_text_blocks_become_html():
    from benchbench.analysis.report.sections import markdown_html

    html = markdown_html("Read `x` **now**\n| a | b |\n|---|---|\n| 1 | 2 \\| 3 |\n- one\n- two\n> **Warning:** w")
    assert html.splitlines() == [
        "<p>Read <code>x</code> <strong>now</strong></p>",
        '<div class="wide"><table><thead><tr><th class="l">a</th><th>b</th></tr></thead><tbody><tr><td class="l">1</td>'
        "<td>2 | 3</td></tr></tbody></table></div>",
        "<ul><li>one</li><li>two</li></ul>",
        "<blockquote><strong>Warning:</strong> w</blockquote>"]
