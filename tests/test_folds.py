"""Specimen folds (``split: {folds: K}``): the fold assignment, the matrix rules, and one toy run end to end
(ids, fold fields, every specimen tested once per setting, resume, rescore, export, per-fold weights and
the generator calibration hook)."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benchbench.cli import main
from benchbench.data.folds import fold_params, fold_test_groups
from benchbench.data.provenance import write_training_manifest
from benchbench.errors import UserError
from benchbench.frames import Frame, FrameSet
from benchbench.method.matrix import parse_matrix

# 64 toy frames in 6 specimens of 11 or 10 frames: the folds differ in size, so each has its own counts.
MATRIX = """
name: folds
seed: [0]
data: {{dataset: toydata, n: 64}}
split: {{folds: 3}}
generators:
  - {{name: tg, plugin: toygen{weights}}}
  - {{name: tc, plugin: toygen-calib}}
detectors:
  - {{name: det, plugin: toydet}}
axes: {{synthetic_ratio: [0, 1], guidance: [7], budget: [epochs, steps]}}
metrics: {{bootstrap: 0}}
labeler: {{kind: teacher, threshold: 0.3}}
samples: 0
scores: {{enabled: false}}
"""
SPECIMENS = [f"Sample{i}" for i in range(1, 7)]


def write(folder: Path, weights: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "m.yaml").write_text(MATRIX.format(weights=weights))
    return folder / "m.yaml"


def bench(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.setenv("BENCHBENCH_PLUGIN_MODULES", "benchbench_toys,benchbench_toys_folds")


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """One finished 3-fold run of the toys (12 cells), made once for the module."""
    base = tmp_path_factory.mktemp("folds")
    write(base)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCHBENCH_PLUGIN_MODULES", "benchbench_toys,benchbench_toys_folds")
        mp.chdir(base)
        res = bench("run", "m.yaml", "--cache-dir", "cache", "--no-report", "--quiet")
        assert res.exit_code == 0, res.output
    return base


@pytest.fixture
def run(finished, tmp_path, monkeypatch, toys) -> Path:
    """A copy of the finished run, the working directory where it was started."""
    shutil.copytree(finished, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "results" / "folds"


def _frames(sizes: dict[str, int]) -> FrameSet:
    return FrameSet(Frame(None, 8, 8, "crack" if i % 2 else "sane", (), g, image=np.full((8, 8), i, np.uint8))
                    for g, n in sizes.items() for i in range(n))


# --------------------------------------------------------------------------- the folds
def test_group_k_fold_is_balanced_deterministic_and_covers_every_specimen_once():
    sizes = {"A": 50, "B": 40, "C": 30, "D": 30, "E": 20, "F": 10}
    frames = _frames(sizes)
    folds = fold_test_groups(frames, 3)
    assert sorted(g for f in folds for g in f) == sorted(sizes)
    assert [sum(sizes[g] for g in f) for f in folds] == [60, 60, 60]  # 180 frames dealt evenly
    assert fold_test_groups(FrameSet(reversed(list(frames))), 3) == folds
    assert fold_test_groups(frames, "loso") == [[g] for g in sorted(sizes)]


def test_fewer_specimens_than_folds_is_a_one_line_error():
    with pytest.raises(UserError, match=r"folds: 7 needs at least 7 specimens, the data have 6") as exc:
        fold_test_groups(_frames(dict.fromkeys("ABCDEF", 4)), 7)
    assert exc.value.field == "split.folds" and "\n" not in str(exc.value)


@pytest.mark.parametrize(("split", "words"), [
    ({"folds": 3, "test_groups": ["A"]}, "remove test_groups"),
    ({"folds": 3, "test_fraction": 0.3}, "remove test_fraction"),
    ({"folds": 1}, "integer >= 2 or 'loso'"),
    ({"folds": "all"}, "folds"),
])
def test_folds_exclude_the_other_ways_to_split(split, words):
    with pytest.raises(UserError, match=words) as exc:
        parse_matrix({"name": "m", "data": {"dataset": "d"}, "detectors": [{"name": "x"}], "split": split})
    assert exc.value.field.startswith("split") and "\n" not in str(exc.value)


def test_weights_per_fold_need_folds_and_one_folder_each():
    base = {"name": "m", "data": {"dataset": "d"}, "detectors": [{"name": "x"}]}
    with pytest.raises(UserError, match="needs split.folds"):
        parse_matrix(base | {"generators": [{"name": "g", "weights": "w/{fold}"}]})
    with pytest.raises(UserError, match="2 folders for 3 folds") as exc:
        parse_matrix(base | {"split": {"folds": 3}, "generators": [{"name": "g", "weights": ["a", "b"]}]})
    assert exc.value.field == "generators[0].weights"
    assert fold_params({"weights": ["a", "b"], "steps": 4}, 1) == {"weights": "b", "steps": 4}
    assert fold_params({"weights": "w/f{fold}"}, 2) == {"weights": "w/f2"}
    assert fold_params({"weights": "w/f{fold}"}, None) == {"weights": "w/f{fold}"}
    pair = {"negative": "w/n{fold}", "positive": "w/p{fold}", "steps": 25}  # an SD row's two folders
    assert fold_params(pair, 1) == {"negative": "w/n1", "positive": "w/p1", "steps": 25}
    with pytest.raises(UserError, match="needs split.folds") as exc:
        parse_matrix(base | {"generators": [{"name": "g", "negative": "n", "positive": "w/{fold}"}]})
    assert exc.value.field == "generators[0].positive"


# --------------------------------------------------------------------------- a run
def test_every_specimen_is_tested_exactly_once_per_setting(finished):
    data = json.loads((finished / "results" / "folds" / "results.json").read_text())
    folds = data["run"]["folds"]
    assert [f["fold"] for f in folds] == [0, 1, 2]
    assert sorted(g for f in folds for g in f["test_groups"]) == SPECIMENS
    assert sorted(f["n_test"] for f in folds) == [21, 21, 22]  # 11+10, 11+10, 11+11: balanced by frames
    cells = data["cells"]
    assert len(cells) == 3 * 4 and all(c["status"] == "ok" for c in cells), [c["error"] for c in cells]
    tested = defaultdict(list)
    for c in cells:
        fold = c["fold"]
        assert c["cell"]["fold"] == fold and c["id"].endswith(f"__f{fold}")
        assert c["test_groups"] == folds[fold]["test_groups"]
        assert c["counts"]["test"] == folds[fold]["n_test"]
        assert c["counts"]["real_train_pos"] + c["counts"]["real_train_neg"] == folds[fold]["n_train"]
        assert c["artifacts"]["ground_truth"] == f"test_gt__f{fold}.json"
        cell = c["cell"]
        tested[cell["detector"], cell["generator"], cell["ratio"], cell["seed"], cell["budget"]] += c["test_groups"]
    assert len(tested) == 4 and all(sorted(g) == SPECIMENS for g in tested.values())
    for f in folds:  # each fold's ground truth holds its test frames only
        gt = json.loads((finished / "results" / "folds" / f"test_gt__f{f['fold']}.json").read_text())
        assert sorted(set(gt["groups"])) == f["test_groups"] and len(gt["images"]) == f["n_test"]
    # the equal-steps reference and the teacher are the fold's own
    for c in cells:
        if c["cell"]["budget"] == "steps":
            assert c["budget"]["reference_frames"] == 2 * folds[c["fold"]]["n_train"]
    assert sorted(p.name for p in (finished / "results" / "folds" / "work").glob("det__real__*__s0*")) == [
        "det__real__g-__r0__s0__bsteps__f0", "det__real__g-__r0__s0__bsteps__f1", "det__real__g-__r0__s0__bsteps__f2",
        "det__real__g-__r0__s0__f0", "det__real__g-__r0__s0__f1", "det__real__g-__r0__s0__f2"]


def test_calibration_is_per_fold_from_its_training_frames(finished):
    data = json.loads((finished / "results" / "folds" / "results.json").read_text())
    folds = {f["fold"]: f for f in data["run"]["folds"]}
    prov = data["run"]["generator_provenance"]["tc"]
    assert [r["fold"] for r in prov["folds"]] == [0, 1, 2]
    for rec in prov["folds"]:
        assert rec["calibration"]["groups"] == folds[rec["fold"]]["train_groups"]
        assert not set(rec["calibration"]["groups"]) & set(rec["test_groups"])
    assert "calibration" not in prov["folds"][0] or "calibration" not in data["run"]["generator_provenance"]["tg"]
    ids = {c["fold"]: c["generator"]["calibration"] for c in data["cells"] if c["cell"]["generator"] == "tc"}
    assert len(set(ids.values())) == 3  # in the frame keys: no fold is served another's frames
    # the frames were made with the fold's calibration, and resized from 48 px to the training crops' 32 px
    made = defaultdict(set)
    for side in (finished / "cache" / "frames").glob("*/*.json"):
        meta = json.loads(side.read_text())
        if meta["source"].startswith("synthetic:calib:"):
            made[meta["source"].removeprefix("synthetic:calib:")].add((meta["width"], meta["height"]))
            assert all(b["bbox"][3] < 32 for b in meta["boxes"] or [])
    assert sorted(made) == sorted("+".join(f["train_groups"]) for f in folds.values())
    assert set().union(*made.values()) == {(32, 32)}
    assert len(list((finished / "cache" / "calibration").glob("*.json"))) == 3


def test_resize_real_gives_any_generator_the_real_crop_sizes(tmp_path, monkeypatch, toys):
    # toygen does not calibrate itself: with resize: real the harness still resizes its 20-px frames to the
    # fold's real training crops (32 px), and records where the sizes came from
    monkeypatch.chdir(tmp_path)
    write(tmp_path, ", size: 20, resize: real")
    res = bench("run", "m.yaml", "--cache-dir", "cache", "--no-report", "--quiet")
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "results" / "folds" / "results.json").read_text())
    folds = {f["fold"]: f for f in data["run"]["folds"]}
    for rec in data["run"]["generator_provenance"]["tg"]["folds"]:
        cal = rec["calibration"]
        assert cal["groups"] == folds[rec["fold"]]["train_groups"] and cal["crop_sizes"] == cal["n_frames"]
    sides = {(m["width"], m["height"]) for m in map(json.loads, map(Path.read_text, (tmp_path / "cache" / "frames")
             .glob("*/*.json"))) if m["source"] == "synthetic:toygen"}
    assert sides == {(32, 32)}
    write(tmp_path, ", size: 20")  # the default: frames stay at the generator's size
    res = bench("run", "m.yaml", "--cache-dir", "cache2", "--no-report", "--quiet", "--run-name", "plain")
    assert res.exit_code == 0, res.output
    sides = {(m["width"], m["height"]) for m in map(json.loads, map(Path.read_text, (tmp_path / "cache2" / "frames")
             .glob("*/*.json"))) if m["source"] == "synthetic:toygen"}
    assert sides == {(20, 20)}
    write(tmp_path, ", resize: crops")
    res = bench("validate", "m.yaml")
    assert res.exit_code == 2 and "generators[0].resize" in res.output and "'real'" in res.output


def test_resume_runs_only_the_missing_fold(run):
    for p in (run / "cells").glob("*__f2.json"):
        p.unlink()
    res = bench("run", "m.yaml", "--cache-dir", "cache", "--no-report", "--quiet")
    assert res.exit_code == 0, res.output
    fits = {p.parent.name: len(p.read_text().split()) for p in (run / "work").glob("*/fit_count")}
    assert len(fits) == 12
    assert {cid for cid, n in fits.items() if n == 2} == {cid for cid in fits if cid.endswith("__f2")}
    assert all(n == 1 for cid, n in fits.items() if not cid.endswith("__f2"))


def test_rescore_scores_each_cell_on_its_folds_ground_truth(run):
    path = next((run / "cells").glob("det__real__g-__r0__s0__f1.json"))
    before = json.loads(path.read_text())
    path.write_text(json.dumps(before | {"metrics": {**before["metrics"], "mAP50": {"value": 0.0}}}))
    res = bench("rescore", run, "--cache-dir", "cache", "--no-report", "--quiet")
    assert res.exit_code == 0, res.output
    after = json.loads(path.read_text())
    assert after["metrics"]["mAP50"] == before["metrics"]["mAP50"]
    assert after["metrics"]["coco"] == before["metrics"]["coco"]
    # the ground truth of another fold is refused, naming its file
    gt = run / "test_gt__f1.json"
    gt.write_text((run / "test_gt__f0.json").read_text())
    res = bench("rescore", run, "--cache-dir", "cache", "--no-report")
    assert res.exit_code == 2 and "test_gt__f1.json" in res.output


def test_the_report_lists_the_folds_and_every_specimen(run):
    res = bench("report", run)
    assert res.exit_code == 0, res.output
    text = (run / "report.md").read_text()
    assert "| data | toydata: 64 frames in 3 specimen folds |" in text and "| folds | f0: test " in text
    rows = [line for line in text.splitlines() if line.startswith("| det · real only · r0 | Sample")]
    assert sorted(line.split(" | ")[1] for line in rows) == SPECIMENS  # each specimen from its own fold
    assert (run / "plots" / "pr_curves__r0.png").is_file()  # each cell against its fold's ground truth


def test_export_writes_one_folds_side(run):
    folds = json.loads((run / "results.json").read_text())["run"]["folds"]
    for part, key in (("train", "train_groups"), ("test", "test_groups")):
        res = bench("data", "export", "m.yaml", "--fold", 1, "--split", part, "--out", f"e-{part}")
        assert res.exit_code == 0, res.output
        manifest = json.loads(Path(f"e-{part}/benchbench-export.json").read_text())
        assert manifest["fold"] == 1 and manifest["test_groups"] == folds[1]["test_groups"]
        assert manifest["groups"] == folds[1][key]
    res = bench("data", "export", "m.yaml", "--out", "e")
    assert res.exit_code == 2 and "--fold" in res.output
    res = bench("data", "export", "m.yaml", "--fold", 3, "--out", "e")
    assert res.exit_code == 2 and "no fold 3" in res.output


@pytest.mark.parametrize("spelling", ["weights: 'w/f{fold}'", "weights: [w/f0, w/f1, w/f2]",
                                      "negative: 'w/f{fold}', positive: 'w/f{fold}'"])
def test_weights_per_fold_are_each_checked_against_their_folds_test_specimens(tmp_path, monkeypatch, toys,
                                                                             spelling):
    monkeypatch.chdir(tmp_path)
    m = write(tmp_path, f", {spelling}")
    for i in range(3):
        assert bench("data", "export", m, "--fold", i, "--split", "train", "--out", f"x{i}").exit_code == 0
        files = {label: sorted(Path(f"x{i}/{label}").iterdir()) for label in ("crack", "sane")}
        write_training_manifest(f"w/f{i}", f"x{i}", files, trainer="test")
    res = bench("validate", m)
    assert res.exit_code == 0, res.output
    assert res.output.count("none held out") == 3 and "generator tg (fold 2): trained on" in res.output
    # fold 1's weights trained on fold 0's training specimens, which hold fold 1's test specimens
    shutil.rmtree("w/f1")
    shutil.copytree("w/f0", "w/f1")
    res = bench("validate", m)
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1
    assert f"generators[0].{spelling.split(':')[0]}" in res.output and "trained on test specimen" in res.output


# --------------------------------------------------------------------------- the calibration hook's checks
class _Gen:
    def __init__(self, out):
        self.out, self.calls = out, 0

    def calibrate(self, train):
        self.calls += 1
        return self.out


@pytest.mark.parametrize(("out", "words"), [
    ([1, 2], r"did not return a JSON mapping \(it returned a list\)"),
    ({"x": float("nan")}, "did not return a JSON mapping"),
    ({"crop_sizes": [32, 0]}, "crop_sizes must be a non-empty list of positive integers"),
    ({"crop_sizes": []}, "crop_sizes must be"),
])
def test_a_calibration_that_is_not_a_json_mapping_is_a_one_line_error(tmp_path, out, words):
    from benchbench.pipeline.calibration import calibrate
    from benchbench.records.cache import Cache

    with pytest.raises(UserError, match=words) as exc:
        calibrate(_Gen(out), {"plugin": "g"}, _frames({"A": 2}), Cache(tmp_path), name="g", field="generators[0]")
    assert exc.value.field == "generators[0]" and "\n" not in str(exc.value)


def test_calibration_is_cached_by_generator_and_frames(tmp_path):
    from benchbench.pipeline.calibration import calibrate
    from benchbench.records.cache import Cache

    gen, cache = _Gen({"crop_sizes": [32]}), Cache(tmp_path)
    for frames in (_frames({"A": 2}), _frames({"A": 2}), _frames({"B": 2})):
        assert calibrate(gen, {"plugin": "g"}, frames, cache, name="g", field="f") == {"crop_sizes": [32]}
    assert gen.calls == 2  # the same frames again: from the cache
    assert calibrate(object(), {"plugin": "h"}, _frames({"A": 2}), cache, name="h", field="f") is None


def test_resize_keeps_the_aspect_and_scales_the_boxes():
    from benchbench.frames import Box
    from benchbench.pipeline.calibration import crop_size, resize_frame

    f = Frame(None, 40, 20, "crack", (Box(4, 2, 2, 10),), image=np.zeros((20, 40, 3), np.uint8))
    g = resize_frame(f, 80)
    assert (g.width, g.height, g.load().shape) == (80, 40, (40, 80, 3))
    assert g.boxes == (Box(8, 4, 4, 20),)
    sizes = [24, 32, 48]
    drawn = [crop_size(sizes, 0, "crack", i) for i in range(60)]
    assert set(drawn) == set(sizes) and drawn == [crop_size(sizes, 0, "crack", i) for i in range(60)]


def test_loso_with_a_weights_list_needs_one_folder_per_specimen(tmp_path, monkeypatch, toys):
    monkeypatch.chdir(tmp_path)
    m = write(tmp_path, ", weights: [w0, w1, w2]")
    m.write_text(m.read_text().replace("folds: 3", "folds: loso"))
    res = bench("validate", m)
    assert res.exit_code == 2 and "generators[0].weights" in res.output
    assert "3 weights folders for 6 folds" in res.output
