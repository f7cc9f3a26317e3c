"""Malformed matrices: each gives exit 2 and a one-line message naming the field, never a traceback."""

import textwrap

import pytest
from click.testing import CliRunner

from benchbench.cli import main

GOOD = """
name: t
seed: [0]
data: {dataset: toydata, n: 24}
generators: [{name: g, plugin: toygen-boxes}]
detectors: [{name: d, plugin: toydet}]
axes: {synthetic_ratio: [0, 0.5]}
"""

BAD = [
    ("name: [unclosed", "invalid YAML at line 1"),
    ("- just\n- a list", "must be a YAML mapping"),
    ("", "must be a YAML mapping"),
    (GOOD.replace("name: t", ""), "name:"),
    (GOOD.replace("name: t", "name: 'has space'"), "name:"),
    (GOOD.replace("data: {dataset: toydata, n: 24}", ""), "data:"),
    (GOOD.replace("detectors: [{name: d, plugin: toydet}]", ""), "detectors:"),
    (GOOD.replace("detectors: [{name: d, plugin: toydet}]", "detectors: []"), "detectors:"),
    (GOOD.replace("plugin: toydet", "plugin: toydett"), "detectors[0].plugin"),
    (GOOD.replace("plugin: toygen-boxes", "plugin: nosuch"), "generators[0].plugin"),
    (GOOD.replace("dataset: toydata", "dataset: nosuch"), "data.dataset"),
    (GOOD.replace("[0, 0.5]", "[0, -0.5]"), "axes.synthetic_ratio"),
    (GOOD.replace("[0, 0.5]", "[0, zero]"), "axes.synthetic_ratio[1]"),
    (GOOD.replace("[0, 0.5]", "[0, 0.5, 0.5]"), "axes.synthetic_ratio"),
    (GOOD.replace("axes: {synthetic_ratio: [0, 0.5]}", "axes: {synthetic_ratio: [0, 0.5], guidnce: [7]}"),
     "axes.guidnce"),
    (GOOD.replace("seed: [0]", "seed: [zero]"), "seed[0]"),
    (GOOD.replace("seed: [0]", "seed: [0, 0]"), "seed"),
    (GOOD + "mode: sideways\n", "mode:"),
    (GOOD.replace("[0, 0.5]", "[0, 2]") + "mode: replace\n", "synthetic_ratio"),
    (GOOD + "positive_fraction: 1.5\n", "positive_fraction"),
    (GOOD + "metrics: {size_ranges: {hairline: [5, 2]}}\n", "metrics.size_ranges"),
    (GOOD + "metrics: {size_ranges: {}}\n", "metrics.size_ranges"),
    (GOOD + "metrics: {size_measure: diagonal}\n", "metrics.size_measure"),
    (GOOD + "metrics: {hit_cover: 0}\n", "metrics.hit_cover"),
    (GOOD + "labeler: {kind: oracle}\n", "labeler.kind"),
    (GOOD + "metrics: {iou_thresholds: [1.5]}\n", "metrics.iou_thresholds"),
    (GOOD + "split: {test_fraction: 0}\n", "split.test_fraction"),
    (GOOD + "split: {tets_fraction: 0.2}\n", "split.tets_fraction"),
    (GOOD + "unknown_key: 1\n", "unknown_key"),
    (GOOD.replace("generators: [{name: g, plugin: toygen-boxes}]", "generators: []"), "synthetic_ratio"),
    (GOOD.replace("detectors: [{name: d, plugin: toydet}]", "detectors: [{name: d, plugin: toydet, epochz: 3}]"),
     "detectors"),
    (GOOD.replace("detectors: [{name: d, plugin: toydet}]",
                  "detectors: [{name: d, plugin: toydet}, {name: d, plugin: toydet}]"), "duplicate name"),
    (GOOD.replace("detectors: [{name: d, plugin: toydet}]", "detectors: {name: d}"), "detectors"),
    (GOOD.replace("seed: [0]", "seed: []"), "seed"),
    # every number a run would choke on is refused by `bench validate` already
    (GOOD.replace("[0, 0.5]", "[0, .nan]"), "axes.synthetic_ratio[1]: Input should be a finite number"),
    (GOOD.replace("[0, 0.5]", "[0, .inf]"), "axes.synthetic_ratio[1]: Input should be a finite number"),
    (GOOD.replace("{synthetic_ratio: [0, 0.5]}", "{synthetic_ratio: [0, 0.5], guidance: [.nan]}"),
     "axes.guidance[0]"),
    (GOOD.replace("plugin: toydet}", "plugin: toydet, ratios: [.nan]}"), "detectors[0].ratios[0]"),
    (GOOD.replace("{dataset: toydata, n: 24}", "{dataset: simulated, n: abc}"), "data.n: n must be an integer"),
    (GOOD.replace("{dataset: toydata, n: 24}", "{dataset: simulated, n: 0}"), "data.n: n must be an integer >= 1"),
    (GOOD.replace("{dataset: toydata, n: 24}", "{dataset: simulated, n: -5}"), "data.n"),
    (GOOD.replace("{dataset: toydata, n: 24}", "{dataset: simulated, size: 0}"), "data.size"),
    (GOOD.replace("{dataset: toydata, n: 24}", "{dataset: simulated, positive_fraction: .nan}"),
     "data.positive_fraction"),
    (GOOD + "executor: {name: local, workers: 0}\n",
     "executor.workers: the local executor rejects workers=0: Input should be greater than or equal to 1"),
    (GOOD + "executor: {name: local, workers: two}\n", "executor.workers"),
    (GOOD + "executor: {name: nosuch}\n", "executor.name: unknown executor plugin 'nosuch'"),
    (GOOD + "executor: {name: local, threads: 2}\n",
     "executor.threads: unknown option 'threads' of the local executor — fix: valid options: workers, in_process"),
    (GOOD + "executor: {name: ray, num_gpu: 1}\n", "unknown option 'num_gpu' of the ray executor — fix: did you "
                                                   "mean 'num_gpus'?"),
    (GOOD + "timeout: 0\n", "timeout"),
    (GOOD + "timeout: .inf\n", "timeout"),
    (GOOD.replace("plugin: toydet}", "plugin: toydet, timeout: soon}"), "detectors[0].timeout"),
    (GOOD.replace("plugin: toygen-boxes}", "plugin: toygen-boxes, timeout: -1}"), "generators[0].timeout"),
]


@pytest.fixture
def toys():
    import benchbench_toys

    from benchbench.plugins import get_plugins

    get_plugins().register(benchbench_toys, "toys")


@pytest.mark.parametrize("text,needle", BAD)
def test_bad_matrix_exit_2_one_line(tmp_path, toys, text, needle):
    f = tmp_path / "m.yaml"
    f.write_text(textwrap.dedent(text))
    res = CliRunner().invoke(main, ["validate", str(f)])
    assert res.exit_code == 2, res.output
    out = res.output.strip()
    assert "Traceback" not in out
    assert len(out.splitlines()) == 1, out
    assert out.startswith(f"error: {f}"), out
    assert needle in out, out


def test_missing_file_exit_2(tmp_path):
    res = CliRunner().invoke(main, ["validate", str(tmp_path / "nope.yaml")])
    assert res.exit_code == 2 and "matrix file not found" in res.output


def test_good_matrix_validates(tmp_path, toys):
    f = tmp_path / "m.yaml"
    f.write_text(GOOD)
    res = CliRunner().invoke(main, ["validate", str(f)])
    assert res.exit_code == 0, res.output
    assert "ok" in res.output


def test_seed_scalar_and_labeler_string():
    from benchbench.method.matrix import parse_matrix

    m = parse_matrix({"name": "x", "seed": 3, "data": {"dataset": "d"}, "detectors": [{"name": "a"}],
                      "labeler": "generator"})
    assert m.seed == [3] and m.labeler.kind == "generator"
    assert m.detectors[0].plugin_name == "a"


def test_debug_shows_traceback(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("name: [")
    res = CliRunner().invoke(main, ["--debug", "validate", str(f)])
    assert res.exit_code != 0 and res.exception is not None


@pytest.mark.parametrize("name", ["quickstart.yaml", "flyd-s.yaml", "flyd.yaml", "generators-flyd-s.yaml",
                                  "study/flyd-s-cv.yaml", "study/flyd-s-cv-physics.yaml",
                                  "study/flyd-s-cv-seeds01.yaml", "study/generators-cv-fold0.yaml",
                                  "study/generators-cv-fold1.yaml", "study/generators-cv-fold2.yaml",
                                  "study/generators-cv.yaml",
                                  "study/flyd-s-cv-ddpm.yaml", "study/generators-cv-ddpm.yaml",
                                  "study/generators-sd64-fold0.yaml"])
def test_examples_are_valid_matrices(name):
    from pathlib import Path

    from benchbench.method.matrix import load_matrix

    matrix, digest = load_matrix(Path(__file__).resolve().parents[1] / "examples" / name)
    assert matrix.detectors and len(digest) == 64


def test_readme_shows_the_quickstart_matrix_as_it_is():
    import re
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    blocks = re.findall(r"```yaml\n(.*?)```", (root / "README.md").read_text(), flags=re.S)
    shown = [yaml.safe_load(b) for b in blocks if b.startswith("name: quickstart")]
    assert shown, "README.md lost its quickstart yaml block"
    assert shown[0] == yaml.safe_load((root / "examples" / "quickstart.yaml").read_text())


def test_a_huge_matrix_file_is_refused_before_parsing(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_bytes(GOOD.encode() + b"#" * (6 * 2**20))
    res = CliRunner().invoke(main, ["validate", str(f)])
    assert res.exit_code == 2 and f"error: {f}: matrix file is 6.0 MB, over the 5 MB" in res.output


def test_timeouts_default_to_the_matrix_and_rows_override_it():
    from benchbench.method.matrix import parse_matrix

    raw = {"name": "x", "data": {"dataset": "d"}, "detectors": [{"name": "a"}, {"name": "b", "timeout": 5}]}
    m = parse_matrix(raw)
    assert [m.timeout_of(d) for d in m.detectors] == [None, 5]  # no limit unless asked
    m = parse_matrix({**raw, "timeout": 60})
    assert [m.timeout_of(d) for d in m.detectors] == [60, 5]
    assert "timeout" not in m.detectors[1].params  # a harness setting, never passed to the plugin


def test_data_errors_at_run_time_name_the_matrix_file(tmp_path, toys):
    f = tmp_path / "m.yaml"
    f.write_text(GOOD + "split: {test_groups: [Sample99]}\n")
    res = CliRunner().invoke(main, ["run", str(f), "--results-dir", str(tmp_path / "r"), "--cache-dir",
                                    str(tmp_path / "c"), "--no-report", "--quiet"])
    assert res.exit_code == 2, res.output
    assert res.output.startswith(f"error: {f}: split.test_groups:"), res.output
