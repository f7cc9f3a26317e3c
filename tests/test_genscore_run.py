"""Generator scores inside `bench run` and `bench generators score|compare`, with the toy plugins."""

import json
from pathlib import Path

import benchbench_toys
import pytest
from click.testing import CliRunner

from benchbench.cli import main
from benchbench.records.store import load_results


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.setenv("BENCHBENCH_PLUGIN_MODULES", "benchbench_toys")


def _run(tmp_path: Path, extra: str = "") -> dict:
    m = benchbench_toys.write_matrix(tmp_path, name="gs", seeds=[0, 1], ratios=[0, 0.5, 1], bootstrap=20,
                                     extra=extra)
    res = CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / "results"),
                                    "--cache-dir", str(tmp_path / "cache"), "--no-report", "-q"])
    assert res.exit_code == 0, res.output
    return json.loads((tmp_path / "results" / "gs" / "results.json").read_text())


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """One toy run for the module: its folder and results.json."""
    root = tmp_path_factory.mktemp("gs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCHBENCH_PLUGIN_MODULES", "benchbench_toys")
        from benchbench.plugins import reset_plugins

        reset_plugins()
        data = _run(root, "scores: {extractors: [{name: physics}, {name: cnn, epochs: 3}], bootstrap: 50}")
        reset_plugins()
    return root, data


def test_run_writes_generator_scores(toy_run):
    tmp_path, data = toy_run
    gs = data["generator_scores"]
    assert gs["errors"] == [] and gs["flags"] == []
    # tg: 2 guidance x 2 seeds, tb: 2 seeds
    assert sorted(s["id"] for s in gs["sets"]) == sorted(
        [f"tg__g{g}__s{s}" for g in (7, 9) for s in (0, 1)] + [f"tb__g-__s{s}" for s in (0, 1)])
    cnn = gs["extractors"]["cnn"]["trained_on"]
    assert cnn["frames"] == data["run"]["data"]["n_train"] == len(cnn["names"])
    for s in gs["sets"]:
        for ext in ("physics", "cnn"):
            for label in ("crack", "sane"):
                sc = s["scores"][ext][label]
                assert sc["fd"] >= 0 and sc["kid_se"] >= 0
                assert all(0 <= sc[k] <= 1 for k in ("precision", "recall", "coverage"))
        mem = s["memorisation"]["pixel"]
        assert mem["test"]["exact_copies"] == 0 and mem["scale"] > 0
        assert (tmp_path / "results" / "gs" / "genscore" / s["closest_pairs_png"]).exists()
    ref = gs["reference"]["scores"]["physics"]["crack"]
    assert ref["n_syn"] > 0 and ref["fd"] > 0  # held-out real specimens: close, never identical
    gain = gs["gain"]["metrics"]["mAP50"]
    assert len(gain["cells"]) == sum(1 for c in data["cells"] if c["cell"]["generator"])
    rho = gain["by_score"]["physics.crack.fd"]
    # the toy detector learns nothing from extra frames: every gain is 0, and the result says so
    assert {c["gain"] for c in gain["cells"]} == {0.0}
    assert rho["n_sets"] == 6 and rho["rho"] is None and "tied" in rho["note"]
    assert "conclusion" not in gs["gain"]  # 6 sets are enough to try
    # the quality bar: tg's cracked frames counted by what each teacher kept, tb's by their own boxes
    q = {r["id"]: r for r in gs["quality"]["sets"]}
    assert gs["quality"]["fd_bar"] is None and not any(r["meets_bar"] for r in q.values())  # no physics set
    for s in gs["sets"]:
        rec = s["recognised"]
        if s["generator"] == "tb":
            assert rec["rule"] == "boxes" and rec["value"] == 1.0
            continue
        taught = [c["teacher"] for c in data["cells"] if c.get("teacher") and c["cell"]["seed"] == s["seed"]
                  and c["cell"]["guidance"] == s["guidance"] and c["cell"]["generator"] == "tg"]
        best = max(taught, key=lambda t: t["frames"])
        assert rec["rule"] == "teacher" and (rec["recognised"], rec["frames"]) == (best["kept"], best["frames"])
        assert q[s["id"]]["recognised"] == rec["value"] and q[s["id"]]["rule"] == "teacher"


def test_generators_score_rescores_an_existing_run(toy_run, toys):
    root, data = toy_run
    run_dir = root / "results" / "gs"
    results = json.loads((run_dir / "results.json").read_text())
    results.pop("generator_scores")
    (run_dir / "results.json").write_text(json.dumps(results))
    res = CliRunner().invoke(main, ["generators", "score", str(run_dir), "--cache-dir", str(root / "cache"),
                                    "--extractor", "physics:size=32"])
    assert res.exit_code == 0, res.output
    assert "generator scores" in res.output and "tg__g7__s0" in res.output and "quality bar" in res.output
    gs = json.loads((run_dir / "results.json").read_text())["generator_scores"]
    assert list(gs["extractors"]) == ["physics"] and gs["extractors"]["physics"]["params"] == {"size": 32}
    assert len(gs["sets"]) == 6 and gs["errors"] == []
    assert "## Generator scores" in (run_dir / "report.md").read_text()
    # the same frames, another descriptor size: other numbers, same set of keys
    assert gs["sets"][0]["scores"]["physics"]["crack"]["fd"] != data["generator_scores"]["sets"][0]["scores"][
        "physics"]["crack"]["fd"]


def test_generators_score_without_the_cache_is_a_user_error(toy_run, toys, tmp_path):
    root, _ = toy_run
    res = CliRunner().invoke(main, ["generators", "score", str(root / "results" / "gs"),
                                    "--cache-dir", str(tmp_path / "empty"), "--extractor", "physics"])
    assert res.exit_code == 2 and "--cache-dir" in res.output and "no generated frames of this run" in res.output


def test_generators_score_bad_extractor_syntax(toy_run, toys):
    root, _ = toy_run
    res = CliRunner().invoke(main, ["generators", "score", str(root / "results" / "gs"), "--extractor", "cnn:epochs"])
    assert res.exit_code == 2 and "--extractor" in res.output and "KEY=VALUE" in res.output


def test_generators_compare_flags_a_folder_of_test_frames(tmp_path):
    from benchbench.data.simulate import simulate_frames, write_dataset

    real = simulate_frames(80, 0, 48)
    write_dataset(real, tmp_path / "real", "yolo")
    write_dataset(simulate_frames(40, 7, 48), tmp_path / "A", "classes")
    write_dataset(real, tmp_path / "B", "classes")  # B copies the real frames, held-out test frames included
    res = CliRunner().invoke(main, ["generators", "compare", str(tmp_path / "A"), str(tmp_path / "B"),
                                    "--real", str(tmp_path / "real"), "--extractor", "physics",
                                    "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")])
    assert res.exit_code == 0, res.output
    section = json.loads((tmp_path / "out" / "scores.json").read_text())
    by_id = {s["id"]: s for s in section["sets"]}
    n_test = section["real"]["n_test"]
    assert by_id["A"]["memorisation"]["pixel"]["test"]["exact_copies"] == 0
    assert by_id["B"]["memorisation"]["pixel"]["test"]["exact_copies"] == n_test
    assert len(section["flags"]) == 1 and "set B" in section["flags"][0] and "LEAK: generator set B" in res.output
    # B is the real data itself: closer to the real training frames than A on every class
    for label in ("crack", "sane"):
        assert by_id["B"]["scores"]["physics"][label]["fd"] < by_id["A"]["scores"]["physics"][label]["fd"]
    assert (tmp_path / "out" / by_id["B"]["closest_pairs_png"]).exists()


def test_tstr_run_trains_synthetic_cells_on_synthetic_frames_only(tmp_path, toys):
    data = _run(tmp_path, "mode: tstr\nscores: {enabled: false}")
    assert "generator_scores" not in data
    syn = [c for c in data["cells"] if c["cell"]["generator"]]
    assert syn and all(c["status"] == "ok" for c in data["cells"])
    for c in syn:
        counts = c["counts"]
        assert counts["real_train_pos"] == counts["real_train_neg"] == 0
        # what the detector actually saw: the synthetic frames kept, nothing else
        assert c["info"]["toy_n_train"] == counts["synthetic_pos"] + counts["synthetic_neg"] > 0
    base = [c for c in data["cells"] if not c["cell"]["generator"]]
    assert all(c["counts"]["real_train_pos"] > 0 for c in base)


def test_validate_checks_the_extractors(tmp_path, toys):
    m = benchbench_toys.write_matrix(tmp_path, name="gs", seeds=[0], ratios=[0, 1], bootstrap=0,
                                     extra=f"scores: {{extractors: [{{name: dinov2, path: {tmp_path / 'nope'}}}]}}")
    res = CliRunner().invoke(main, ["validate", str(m)])
    assert res.exit_code == 2 and "scores.extractors[0]" in res.output and "never downloads" in res.output
    m.write_text(m.read_text().replace("name: dinov2", "name: dino"))
    res = CliRunner().invoke(main, ["validate", str(m)])
    assert res.exit_code == 2 and "did you mean 'dinov2'" in res.output


def test_a_complete_run_regenerates_lost_frames_to_score_them_without_refitting(tmp_path, toys):
    import shutil

    extra = "scores: {extractors: [{name: physics, size: 32}], bootstrap: 20}"
    first = _run(tmp_path, extra)
    assert len(first["generator_scores"]["sets"]) == 6
    shutil.rmtree(tmp_path / "cache" / "frames")  # e.g. a cleared cache, or frames keyed otherwise today
    again = _run(tmp_path, extra)
    assert [c["finished"] for c in again["cells"]] == [c["finished"] for c in first["cells"]]  # nothing refit
    gs = again["generator_scores"]
    assert not any("not in the cache" in n for n in gs["notes"]), gs["notes"]
    assert [s["scores"] for s in gs["sets"]] == [s["scores"] for s in first["generator_scores"]["sets"]]


FOLDS_MATRIX = """
name: gsf
seed: [0]
data: {dataset: toydata, n: 40, groups: 5}
split: {folds: 2}
generators:
  - {name: tg, plugin: toygen}
detectors:
  - {name: det, plugin: toydet}
axes: {synthetic_ratio: [0, 1], guidance: [7]}
metrics: {bootstrap: 0}
labeler: {kind: teacher, threshold: 0.3}
samples: 0
scores: {extractors: [{name: physics}], bootstrap: 20}
"""


def test_with_folds_every_folds_sets_are_scored_against_that_fold(tmp_path, toys):
    (tmp_path / "m.yaml").write_text(FOLDS_MATRIX)
    res = CliRunner().invoke(main, ["run", str(tmp_path / "m.yaml"), "--results-dir", str(tmp_path / "results"),
                                    "--cache-dir", str(tmp_path / "cache"), "-q"])
    assert res.exit_code == 0, res.output
    run = tmp_path / "results" / "gsf"
    data = load_results(run)  # the per-fold section validates (records.schema.GeneratorScores)
    gs, folds = data["generator_scores"], data["run"]["folds"]
    assert gs["errors"] == [] and "extractors" not in gs and "reference" not in gs
    assert [(f["fold"], f["test_groups"]) for f in gs["folds"]] == [(f["fold"], f["test_groups"]) for f in folds]
    assert sorted((s["id"], s["fold"]) for s in gs["sets"]) == [("tg__g7__s0__f0", 0), ("tg__g7__s0__f1", 1)]
    # each fold's reference row is its test frames, and every score is against its training frames (toy
    # frames alternate cracked and sane: half of each are cracked)
    for f, scored in zip(folds, gs["folds"], strict=True):
        ref = scored["reference"]["scores"]["physics"]["crack"]
        assert (ref["n_syn"], ref["n_real"]) == (f["n_test"] // 2, f["n_train"] // 2)
        mine = next(s for s in gs["sets"] if s["fold"] == f["fold"])
        assert mine["scores"]["physics"]["crack"]["n_real"] == f["n_train"] // 2
    assert folds[0]["n_train"] != folds[1]["n_train"]  # else the checks above could not tell the folds apart
    assert all(f["quality"]["sets"][0]["id"] == f"tg__g7__s0__f{f['fold']}" for f in gs["folds"])
    # each synthetic cell's gain is paired with its own fold's set
    cells = gs["gain"]["metrics"]["mAP50"]["cells"]
    assert sorted(c["set"] for c in cells) == ["tg__g7__s0__f0", "tg__g7__s0__f1"]
    text = (run / "report.md").read_text()
    assert all(f"### Scores, fold {f['fold']} (test specimens {', '.join(f['test_groups'])})" in text for f in folds)
