"""Fault injection, hostile inputs: what a plugin or a tampered run folder must not reach.

A detector never sees the ground truth it is scored on; `bench rescore` writes nowhere outside its
run folder and refuses inputs changed since the run; the leakage guard and the leaderboard refuse
or escape what they are handed.
"""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from test_faults import OK_ROW, PLUGINS, bench, cells_of, fault_plugins, matrix  # noqa: F401 - fault_plugins: autouse

from benchbench.cli import main
from benchbench.data.provenance import MANIFEST, write_training_manifest
from benchbench.frames import FrameSet
from benchbench.testing import check_detector, tiny_frames


# --------------------------------------------------------------------------- ground truth hidden
def test_predict_sees_no_ground_truth_in_test_val_or_teacher_frames(tmp_path):
    m = matrix(tmp_path, {"probe": "plugin: probedet"}, ratios=(0, 1),
               generators="{name: toygen, plugin: toygen}",
               extra="labeler: {kind: teacher, threshold: 0.0}\nscores: {enabled: false}")
    m.write_text(m.read_text().replace("test_fraction: 0.34", "test_fraction: 0.34, val_fraction: 0.2"))
    res = bench(tmp_path, m)
    assert res.exit_code == 0, res.output
    run_dir = tmp_path / "results" / "faults"
    seen = [json.loads(line) for f in sorted(run_dir.glob("work/*/seen.jsonl")) for line in f.read_text().splitlines()]
    cells = cells_of(run_dir)
    # each cell predicts test and validation frames; the baseline also labels the synthetic frames
    assert len(seen) == 2 * len(cells) + 1, seen
    assert all(s["n"] > 0 and s["pixels"] == s["n"] for s in seen)
    assert [(s["boxes"], s["labels"], s["sources"], s["meta"]) for s in seen] == [(0, ["None"], [""], 0)] * len(seen)
    assert {g for s in seen for g in s["groups"]} >= {"synthetic"}  # the group still travels
    # the evaluator kept the truth: the cells are scored against the real boxes
    assert all(c["status"] == "ok" and c["metrics"]["mAP50"]["value"] > 0 for c in cells.values())


class TruthReader:
    """A detector that 'predicts' the boxes it was handed: what check_detector must catch."""

    name, version = "truthreader", "1"

    def params(self) -> dict:
        return {}

    def fit(self, train, val, ctx) -> None:
        pass

    def predict(self, frames, ctx):
        return [list(f.boxes) for f in frames]


def test_the_kit_refuses_a_detector_that_reads_ground_truth_at_predict(tmp_path):
    with pytest.raises(AssertionError, match="predict after fit, on frames without ground truth.*TypeError"):
        check_detector(TruthReader, tmp_path=tmp_path, fresh_process=False)


def test_frames_without_truth_keep_pixels_size_path_and_group():
    frames = tiny_frames(n=4, size=32)
    blind = frames.without_truth()
    assert isinstance(blind, FrameSet) and len(blind) == len(frames)
    for f, b in zip(frames, blind, strict=True):
        assert (b.path, b.width, b.height, b.group) == (f.path, f.width, f.height, f.group)
        assert (b.boxes, b.label, b.meta, b.source) == (None, None, {}, "")
        assert (b.load() == f.load()).all()
    assert frames[0].meta and frames[0].label in ("crack", "sane")  # the original is untouched


# --------------------------------------------------------------------------- bench rescore
def rescore(run_dir: Path, *args: str):
    return CliRunner().invoke(main, ["rescore", str(run_dir), "--cache-dir", str(run_dir.parent / "cache"),
                                     "--quiet", "--no-report", *args])


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished toy run with validation frames (predictions.json and predictions_val.json per cell)."""
    root = tmp_path_factory.mktemp("finished")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCHBENCH_PLUGIN_MODULES", PLUGINS)
        m = matrix(root, {"ok": OK_ROW}, seeds=(0, 1))
        m.write_text(m.read_text().replace("test_fraction: 0.34", "test_fraction: 0.34, val_fraction: 0.2"))
        res = bench(root, m)
    assert res.exit_code == 0, res.output
    return root


@pytest.fixture
def run_dir(finished, tmp_path) -> Path:
    """A copy of the finished run, in tmp_path/results/faults; tmp_path/victim holds a file outside it."""
    shutil.copytree(finished, tmp_path, dirs_exist_ok=True)
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "existing.json").write_text('{"mine": true}\n')
    return tmp_path / "results" / "faults"


def outside_untouched(run_dir: Path) -> None:
    root = run_dir.parent.parent
    assert (root / "victim" / "existing.json").read_text() == '{"mine": true}\n'
    assert [p.name for p in (root / "victim").iterdir()] == ["existing.json"]


def edit_results(run_dir: Path, change) -> None:
    data = json.loads((run_dir / "results.json").read_text())
    change(data)
    (run_dir / "results.json").write_text(json.dumps(data))


def one_line_error(res, *parts: str) -> None:
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and all(p in lines[0] for p in parts), res.output


@pytest.mark.parametrize("cell_id", ["../../../victim/existing", "/tmp/abs", "a/b", "..", 7])
def test_rescore_refuses_a_cell_id_that_is_not_a_plain_name(run_dir, cell_id):
    edit_results(run_dir, lambda d: d["cells"][0].update(id=cell_id))
    # a number is refused by the schema (benchbench.records.schema) before rescore reads it as a name
    reason = "valid string" if cell_id == 7 else "is not a plain name"
    one_line_error(rescore(run_dir), "results.json", "cells[0].id", reason)
    outside_untouched(run_dir)


def test_rescore_writes_nothing_through_a_symlinked_work_folder(run_dir):
    cell = json.loads((run_dir / "results.json").read_text())["cells"][0]["id"]
    work = run_dir / "work" / cell
    shutil.copytree(work, run_dir.parent.parent / "victim" / "work")
    shutil.rmtree(work)
    work.symlink_to(run_dir.parent.parent / "victim" / "work")
    before = sorted(p.name for p in work.iterdir())
    one_line_error(rescore(run_dir), f"the work folder of {cell}", "leads outside the run folder")
    assert sorted(p.name for p in work.iterdir()) == before


def test_rescore_writes_no_cell_file_through_a_symlinked_cells_folder(run_dir):
    outside = run_dir.parent.parent / "victim" / "cells"
    shutil.move(run_dir / "cells", outside)
    (run_dir / "cells").symlink_to(outside)
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    one_line_error(rescore(run_dir), "cells (the cells/ folder)", "leads outside the run folder")
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before


@pytest.mark.parametrize("where", ["../../victim/existing.json", "/etc/hostname"])
def test_rescore_refuses_an_artifact_path_outside_the_run_folder(run_dir, where):
    cell = json.loads((run_dir / "results.json").read_text())["cells"][1]["id"]
    f = run_dir / "cells" / f"{cell}.json"
    record = json.loads(f.read_text())
    record["artifacts"]["predictions"] = where
    f.write_text(json.dumps(record))
    one_line_error(rescore(run_dir), f"cells/{cell}.json", "artifacts.predictions", "leads outside")
    outside_untouched(run_dir)


def test_a_symlinked_lock_file_is_not_written_through(run_dir):
    victim = run_dir.parent.parent / "victim" / "existing.json"
    (run_dir / ".lock").unlink(missing_ok=True)
    (run_dir / ".lock").symlink_to(victim)
    one_line_error(rescore(run_dir), ".lock", "cannot open the run folder's lock")
    outside_untouched(run_dir)


def test_a_gallery_symlinked_out_of_the_work_folder_is_replaced_not_written_through(run_dir):
    cell = json.loads((run_dir / "results.json").read_text())["cells"][0]["id"]
    png = run_dir / "work" / cell / "worst_frames.png"
    png.unlink(missing_ok=True)
    png.symlink_to(run_dir.parent.parent / "victim" / "existing.json")
    edit_results(run_dir, lambda d: d["cells"][0].get("artifacts", {}).pop("worst_frames", None))
    (run_dir / "cells" / f"{cell}.json").unlink()  # results.json's record is the cell's record
    res = rescore(run_dir)
    assert res.exit_code == 0, res.output
    outside_untouched(run_dir)
    assert not png.is_symlink() and png.read_bytes().startswith(b"\x89PNG")


# --------------------------------------------------------------------------- rescore integrity
def test_rescore_refuses_a_truncated_test_gt_json(run_dir):
    gt = run_dir / "test_gt.json"
    gt.write_text(gt.read_text()[: len(gt.read_text()) // 2])
    one_line_error(rescore(run_dir), "test_gt.json", "changed since the run wrote it")


def test_rescore_refuses_predictions_whose_image_ids_were_shuffled(run_dir):
    cells = {c["id"]: c for c in json.loads((run_dir / "results.json").read_text())["cells"]}
    cell = next(iter(cells))
    preds = run_dir / "work" / cell / "predictions.json"
    rows = json.loads(preds.read_text())
    ids = [r["image_id"] for r in rows]
    for r, i in zip(rows, ids[1:] + ids[:1], strict=True):  # every id still within range
        r["image_id"] = i
    preds.write_text(json.dumps(rows))
    res = rescore(run_dir)
    assert res.exit_code == 1, res.output
    assert f"{cell}: {preds} changed since the cell wrote it" in res.output.replace("\n", "")
    after = {c["id"]: c for c in json.loads((run_dir / "results.json").read_text())["cells"]}
    assert after[cell]["metrics"] == cells[cell]["metrics"]  # the cell keeps what it had


def test_an_older_run_folder_without_checksums_still_rescores_with_a_warning(run_dir):
    edit_results(run_dir, lambda d: [d["run"].pop("checksums"), *(c.pop("checksums") for c in d["cells"])])
    for f in (run_dir / "cells").glob("*.json"):
        record = json.loads(f.read_text())
        record.pop("checksums")
        f.write_text(json.dumps(record))
    res = CliRunner().invoke(main, ["rescore", str(run_dir), "--cache-dir", str(run_dir.parent / "cache"),
                                    "--no-report"])
    assert res.exit_code == 0, res.output
    assert "no checksums recorded" in res.output and "not verified" in res.output


# --------------------------------------------------------------------------- leakage guard
SIM_MATRIX = """\
name: leak
seed: [0]
data: {{dataset: simulated, n: 48, size: 64, seed: 0}}
split: {{test_groups: [Sample1, Sample2]}}
generators: [{{name: tg, plugin: toygen, weights: '{weights}'}}]
detectors: [{{name: t, plugin: toydet}}]
axes: {{synthetic_ratio: [0, 1]}}
labeler: {{kind: teacher}}
"""


@pytest.fixture
def sim(tmp_path) -> dict[str, Path]:
    """A simulated-data matrix whose generator's weights are tmp_path/w, and both sides of its split exported."""
    m = tmp_path / "m.yaml"
    m.write_text(SIM_MATRIX.format(weights=tmp_path / "w"))
    out = {"matrix": m, "weights": tmp_path / "w"}
    for part in ("train", "test"):
        out[part] = tmp_path / f"export-{part}"
        res = CliRunner().invoke(main, ["data", "export", str(m), "--split", part, "--out", str(out[part])])
        assert res.exit_code == 0, res.output
    return out


def trained_on(weights: Path, data: Path, files: dict | None = None, blob: bytes = b"weights") -> Path:
    """What a training command leaves: weights, then the manifest of the frames it read (bound to them)."""
    (weights / "crack").mkdir(parents=True, exist_ok=True)
    (weights / "crack" / "model.safetensors").write_bytes(blob)
    if files is None:
        files = {label: sorted((data / label).iterdir()) for label in ("crack", "sane")}
    return write_training_manifest(weights, data, files, trainer="test")


def validate(m: Path):
    return CliRunner().invoke(main, ["validate", str(m)])


def test_the_specimen_check_runs_on_simulated_data(sim):
    trained_on(sim["weights"], sim["test"])
    one_line_error(validate(sim["matrix"]), "generators[0].weights", "trained on test specimen Sample1")


def test_a_clean_manifest_copied_beside_other_weights_is_refused(sim, tmp_path):
    trained_on(tmp_path / "clean", sim["train"])
    trained_on(sim["weights"], sim["test"], blob=b"trained on the test frames")
    shutil.copy(tmp_path / "clean" / MANIFEST, sim["weights"] / MANIFEST)
    one_line_error(validate(sim["matrix"]), str(sim["weights"] / MANIFEST),
                   "not the ones it was written with (crack/model.safetensors differs)")
    # the clean weights with one more weights file beside them: refused too
    (sim["weights"] / "crack" / "model.safetensors").write_bytes(b"weights")
    (sim["weights"] / "crack" / "extra.safetensors").write_bytes(b"trained on the test frames")
    one_line_error(validate(sim["matrix"]), "crack/extra.safetensors is not among them")


def test_the_clean_weights_and_their_manifest_pass(sim):
    trained_on(sim["weights"], sim["train"])
    res = validate(sim["matrix"])
    assert res.exit_code == 0, res.output
    assert ("generator tg: trained on 38 frames of Sample3, Sample4, Sample5, Sample6, Sample7, Sample8, "
            "none held out") in res.output


def test_a_manifest_of_no_frame_must_declare_no_data(sim):
    path = trained_on(sim["weights"], sim["train"], files={})
    one_line_error(validate(sim["matrix"]), "lists no training frame", "no_data: true")
    write_training_manifest(sim["weights"], None, {}, trainer="random init")  # what init-tiny writes
    res = validate(sim["matrix"])
    assert res.exit_code == 0 and "learns from no frame (random init)" in res.output, res.output
    assert json.loads(path.read_text())["no_data"] is True


@pytest.mark.parametrize("frames, says", [
    ({}, "without a 'frames' list"),
    ([7], "frames[0] is int, not an entry"),
    ([{"name": "a.png", "label": "crack"}], "frames[0].group is None, not a string"),
    ([{"name": "a.png", "label": "crack", "group": "Sample9", "thumb": "zz"}], "frames[0].thumb is not a 8x8"),
])
def test_a_malformed_manifest_entry_is_one_line(sim, frames, says):
    path = trained_on(sim["weights"], sim["train"])
    path.write_text(json.dumps({**json.loads(path.read_text()), "frames": frames}))
    one_line_error(validate(sim["matrix"]), str(path), says)


def _copies(src: Path, dst: Path, size: int, quality: int) -> Path:
    """Resized, JPEG re-encoded copies of the frames under ``src``, renamed (no specimen in the name)."""
    for label in ("crack", "sane"):
        (dst / label).mkdir(parents=True)
        for i, p in enumerate(sorted((src / label).iterdir())):
            with Image.open(p) as im:
                im.convert("RGB").resize((size, size), Image.Resampling.BICUBIC).save(
                    dst / label / f"img{i:04d}.jpg", quality=quality)
    return dst


@pytest.mark.parametrize("size, quality", [(48, 75), (128, 50)])
def test_a_generator_trained_on_resized_jpeg_copies_of_test_frames_is_refused(sim, tmp_path, size, quality):
    trained_on(sim["weights"], _copies(sim["test"], tmp_path / "copies", size, quality))
    one_line_error(validate(sim["matrix"]), "generators[0].weights", "trained on a near-copy of test frame",
                   "a resized or re-encoded copy")


def test_resized_jpeg_copies_of_training_frames_are_no_near_copy(sim, tmp_path):
    trained_on(sim["weights"], _copies(sim["train"], tmp_path / "copies", 48, 50))
    res = validate(sim["matrix"])
    assert res.exit_code == 0, res.output


def test_on_real_flyd_s_frames_copies_are_near_and_other_specimens_are_not(tmp_path, flyd_s_zip):
    """The near-copy threshold on the frames it is for: FLYD-S, test specimens Sample3 and Sample8."""
    import io
    import zipfile

    from benchbench.data.provenance import check_against_test, read_manifest
    from benchbench.errors import UserError
    from benchbench.frames import Frame

    test, train = [], []
    with zipfile.ZipFile(flyd_s_zip) as z:
        for name in sorted(n for n in z.namelist() if n.endswith(".jpg")):
            with Image.open(io.BytesIO(z.read(name))) as im:
                rgb = np.asarray(im.convert("RGB"))
            group = re.search(r"Sample\d+", name).group(0)
            (test if group in ("Sample3", "Sample8") else train).append((Path(name).name, group, rgb))
    frames = FrameSet(Frame(None, rgb.shape[1], rgb.shape[0], "sane", (), group, image=rgb, meta={"name": n})
                      for n, group, rgb in test)

    def manifest(folder: Path, images) -> dict:
        (folder / "sane").mkdir(parents=True)
        for i, (_, _, rgb, *how) in enumerate(images):
            im = Image.fromarray(rgb)
            if how:  # resized, JPEG re-encoded, renamed: the group is lost with the name
                im.resize((how[0], how[0]), Image.Resampling.BICUBIC).save(folder / "sane" / f"x{i}.jpg",
                                                                          quality=how[1])
            else:
                im.save(folder / "sane" / f"{images[i][0]}.png")
        return read_manifest(trained_on(folder / "w", folder, {"sane": sorted((folder / "sane").iterdir())}))

    clean = manifest(tmp_path / "train", train)
    assert check_against_test("ddpm", clean, frames, file="m.yaml", field="generators[0]")["n_frames"] == len(train)
    for k, (size, quality) in enumerate([(64, 75), (128, 50)]):
        leaky = manifest(tmp_path / f"copies{k}", [(*t, size, quality) for t in test[::7]])
        with pytest.raises(UserError, match="trained on a near-copy of test frame"):
            check_against_test("ddpm", leaky, frames, file="m.yaml", field="generators[0]")


# --------------------------------------------------------------------------- leaderboard and reports
def lb(*args: object):
    return CliRunner().invoke(main, ["leaderboard", *map(str, args)])


@pytest.mark.parametrize("table, column", [("cells", "result"), ("runs", "data"), ("runs", "directions")])
def test_invalid_json_in_a_stored_row_is_a_warning_and_the_row_is_skipped(tmp_path, runs, table, column):
    import sqlite3

    db = tmp_path / "lb.sqlite"
    for name in ("base", "noise"):
        assert lb("submit", runs[name], "--db", db).exit_code == 0
    healthy = lb("show", "--format", "json", "--db", db)
    con = sqlite3.connect(db)
    with con:
        victim = con.execute(f"SELECT run_id FROM {table} ORDER BY run_id LIMIT 1").fetchone()[0]
        con.execute(f"UPDATE {table} SET {column} = '{{\"truncated' WHERE rowid = "
                    f"(SELECT MIN(rowid) FROM {table} WHERE run_id = ?)", (victim,))
    con.close()
    res = CliRunner().invoke(main, ["leaderboard", "show", "--format", "json", "--db", str(db)])
    assert res.exit_code == 0, res.output
    warnings = [line for line in res.output.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "stored row is not valid JSON" in warnings[0] and warnings[0].endswith("skipped")
    shown = json.loads(res.output[res.output.index("{"):])["entries"]
    before = json.loads(healthy.output)["entries"]
    assert 0 < len(shown) < len(before) if table == "runs" else len(shown) == len(before)
    assert lb("show", "--db", db).exit_code == 0  # the table view too


EVIL = "<script>alert(1)</script>"


def test_names_from_a_tampered_results_json_are_escaped_in_report_md_and_html(tmp_path, runs):
    from benchbench.analysis.report.build import build_report

    run = shutil.copytree(runs["base"], tmp_path / "run")
    data = json.loads((run / "results.json").read_text())
    for c in data["cells"]:
        m = c.get("metrics") or {}
        if "sizes" in m:
            m["sizes"]["ranges"] = {EVIL + k: v for k, v in m["sizes"]["ranges"].items()}
        if "groups" in m:
            m["groups"] = {EVIL + k: v for k, v in m["groups"].items()}
        c["id"] = "x" + EVIL
    (run / "results.json").write_text(json.dumps(data))
    md = build_report(run).read_text()
    outside_code = re.sub(r"`[^`]*`", "", md)  # a code span shows its text literally
    assert EVIL not in outside_code and "\\<script\\>alert(1)\\</script\\>" in outside_code
    assert "<script" not in (run / "report.html").read_text()


def test_rescore_refuses_a_learning_curve_point_outside_the_run_folder(run_dir):
    cell = json.loads((run_dir / "results.json").read_text())["cells"][0]["id"]
    f = run_dir / "cells" / f"{cell}.json"
    record = json.loads(f.read_text())
    record["curve"] = [{"steps": 1, "predictions": "../../victim/existing.json"}]
    f.write_text(json.dumps(record))
    one_line_error(rescore(run_dir), f"cells/{cell}.json", "curve[0].predictions", "leads outside")
