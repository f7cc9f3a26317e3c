"""The leakage guard: generators trained on test specimens are refused, unknown provenance is recorded."""

import json
import shutil
from pathlib import Path

import benchbench_toys
import pytest
from click.testing import CliRunner

from benchbench.cli import main
from benchbench.data.provenance import MANIFEST, write_training_manifest
from benchbench.errors import UserError


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.setenv("BENCHBENCH_PLUGIN_MODULES", "benchbench_toys")


def _matrix(tmp_path: Path, weights: Path | None) -> Path:
    m = benchbench_toys.write_matrix(tmp_path, name="prov", seeds=[0], ratios=[0, 1], bootstrap=0)
    text = m.read_text().replace("{name: tg, plugin: toygen}",
                                 f"{{name: tg, plugin: toygen, weights: '{weights}'}}" if weights else
                                 "{name: tg, plugin: toygen}")
    m.write_text(text.replace("split: {test_fraction: 0.34}", "split: {test_groups: [Sample1, Sample2]}"))
    return m


def _export(tmp_path: Path, m: Path, part: str) -> Path:
    out = tmp_path / f"export-{part}"
    res = CliRunner().invoke(main, ["data", "export", str(m), "--split", part, "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def _train(export: Path, weights: Path) -> Path:
    """What `bench train` does after training: record the frames it learnt from."""
    files = {label: sorted((export / label).iterdir()) for label in ("crack", "sane")}
    write_training_manifest(weights, export, files, trainer="test")
    return weights


def test_export_writes_exactly_one_side_of_the_split(tmp_path, toys):
    m = _matrix(tmp_path, None)
    train, test = _export(tmp_path, m, "train"), _export(tmp_path, m, "test")
    header = json.loads((train / "benchbench-export.json").read_text())
    assert header["groups"] == ["Sample3", "Sample4", "Sample5", "Sample6"] and header["split"] == "train"
    assert json.loads((test / "benchbench-export.json").read_text())["groups"] == ["Sample1", "Sample2"]
    assert len(list((train / "crack").iterdir())) + len(list((train / "sane").iterdir())) == 40


def test_generator_trained_on_training_specimens_is_accepted(tmp_path, toys):
    m = _matrix(tmp_path, tmp_path / "w")
    _train(_export(tmp_path, m, "train"), tmp_path / "w")
    res = CliRunner().invoke(main, ["validate", str(m)])
    assert res.exit_code == 0, res.output
    assert "generator tg: trained on 40 frames of Sample3, Sample4, Sample5, Sample6, none held out" in res.output


def test_generator_trained_on_a_test_specimen_is_refused(tmp_path, toys):
    m = _matrix(tmp_path, tmp_path / "w")
    _train(_export(tmp_path, m, "test"), tmp_path / "w")
    for cmd in (["validate", str(m)], ["run", str(m), "--results-dir", str(tmp_path / "r"),
                                        "--cache-dir", str(tmp_path / "c")]):
        res = CliRunner().invoke(main, cmd)
        assert res.exit_code == 2, res.output
        line = res.output.strip()
        assert len(line.splitlines()) == 1 and "generators[0].weights" in line
        assert "trained on test specimen Sample1 (frame crack/toy-Sample1-0000.png)" in line
    assert not (tmp_path / "r" / "prov" / "cells").exists()


def test_each_weights_folder_of_a_class_pair_is_checked(tmp_path, toys):
    """An SD row's negative and positive are two folders: a positive fine-tuned on a test specimen is refused
    even when the negative is clean, and a folder without a manifest is a warning, not a pass."""
    m = _matrix(tmp_path, None)
    m.write_text(m.read_text().replace("{name: tg, plugin: toygen}",
                                       f"{{name: tg, plugin: toygen, negative: '{tmp_path / 'neg'}', "
                                       f"positive: '{tmp_path / 'pos'}'}}"))
    _train(_export(tmp_path, m, "train"), tmp_path / "neg")
    res = CliRunner().invoke(main, ["validate", str(m)])
    assert res.exit_code == 0, res.output
    assert f"{tmp_path / 'pos'} has no training manifest" in res.output
    _train(_export(tmp_path, m, "train"), tmp_path / "pos")  # the same frames: counted once
    res = CliRunner().invoke(main, ["validate", str(m)])
    assert res.exit_code == 0 and "trained on 40 frames" in res.output and str(tmp_path / "pos") not in res.output
    shutil.rmtree(tmp_path / "pos")
    _train(_export(tmp_path, m, "test"), tmp_path / "pos")
    res = CliRunner().invoke(main, ["validate", str(m)])
    assert res.exit_code == 2 and "trained on test specimen Sample1" in res.output, res.output


def test_a_test_image_under_another_name_and_group_is_refused(tmp_path, toys):
    m = _matrix(tmp_path, tmp_path / "w")
    train, test = _export(tmp_path, m, "train"), _export(tmp_path, m, "test")
    shutil.copy(next((test / "sane").iterdir()), train / "sane" / "renamed.png")  # group from the name: none
    (train / "benchbench-export.json").unlink()
    _train(train, tmp_path / "w")
    res = CliRunner().invoke(main, ["validate", str(m)])
    assert res.exit_code == 2 and "was trained on a test image (sane/renamed.png = test frame" in res.output


def test_unknown_provenance_runs_with_a_recorded_warning(tmp_path, toys):
    m = _matrix(tmp_path, None)
    res = CliRunner().invoke(main, ["run", str(m), "--results-dir", str(tmp_path / "r"),
                                    "--cache-dir", str(tmp_path / "c"), "--no-report"])
    assert res.exit_code == 0, res.output
    run = json.loads((tmp_path / "r" / "prov" / "results.json").read_text())["run"]
    assert run["generator_provenance"]["tg"]["status"] == "unknown"
    assert run["generator_provenance"]["tb"]["status"] == "unknown"
    assert any("generator 'tg' has no training manifest" in w for w in run["warnings"])


def test_broken_manifest_names_its_file(tmp_path, toys):
    m = _matrix(tmp_path, tmp_path / "w")
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / MANIFEST).write_text("{")
    res = CliRunner().invoke(main, ["validate", str(m)])
    assert res.exit_code == 2 and f"{tmp_path / 'w' / MANIFEST}" in res.output


def _fold_export(folder: Path, test_groups: list[str]) -> Path:
    """A one-frame export of a fold whose test specimens are ``test_groups``."""
    from PIL import Image

    (folder / "crack").mkdir(parents=True)
    Image.new("RGB", (8, 8), (9, 9, 9)).save(folder / "crack" / "Sample3_a.png")
    (folder / "benchbench-export.json").write_text(json.dumps({"split": "train", "test_groups": test_groups,
                                                               "frames": [{"name": "Sample3_a.png",
                                                                           "group": "Sample3"}]}))
    return folder


def test_a_fine_tuned_model_inherits_its_bases_frames(tmp_path):
    """What a base learnt reaches the guard through the weights fine-tuned from it; a base of another fold
    (whose training specimens may be these frames' test specimens) is refused."""
    base = tmp_path / "base"
    write_training_manifest(base, _fold_export(tmp_path / "e0", ["Sample5"]), {"crack": sorted(
        (tmp_path / "e0" / "crack").iterdir())}, trainer="base")
    data = _fold_export(tmp_path / "d0", ["Sample5"])
    files = {"instance": sorted((data / "crack").iterdir())}
    manifest = json.loads(write_training_manifest(tmp_path / "tuned", data, files, trainer="t", base=base).read_text())
    assert manifest["n_frames"] == 2 and [f.get("via") for f in manifest["frames"]] == [None, "base"]
    assert manifest["base"] == {"path": str(base), "manifest": True, "trainer": "base"}
    released = json.loads(write_training_manifest(tmp_path / "t2", data, files, trainer="t", base=tmp_path).read_text())
    assert released["base"] == {"path": str(tmp_path), "manifest": False} and released["n_frames"] == 1
    with pytest.raises(UserError, match="base was trained with test specimens Sample5 held out, these frames with "
                                        "Sample1") as err:
        write_training_manifest(tmp_path / "t3", _fold_export(tmp_path / "d1", ["Sample1"]), files, trainer="t",
                                base=base)
    assert err.value.field == "--base"


def test_a_trainers_checkpoints_are_not_weights_the_manifest_binds(tmp_path):
    """Weights copied without OUT/checkpoints/ (the resume state) stay valid; other weights never do."""
    import numpy as np
    from PIL import Image

    from benchbench.data.provenance import RESUME_STATE_DIR, read_manifest

    data = tmp_path / "frames"
    (data / "sane").mkdir(parents=True)
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(data / "sane" / "Sample1_0.png")
    out = tmp_path / "w"
    (out / "unet").mkdir(parents=True)
    (out / "unet" / "model.safetensors").write_bytes(b"weights")
    (out / RESUME_STATE_DIR / "guided" / "step-0001000").mkdir(parents=True)
    (out / RESUME_STATE_DIR / "guided" / "step-0001000" / "optimizer.pt").write_bytes(b"state")
    path = write_training_manifest(out, data, {"sane": sorted((data / "sane").iterdir())}, trainer="t")
    assert list(json.loads(path.read_text())["weights"]) == ["unet/model.safetensors"]
    copy = shutil.copytree(out, tmp_path / "copy", ignore=shutil.ignore_patterns(RESUME_STATE_DIR))
    assert read_manifest(copy / MANIFEST)["weights_bound"] is True
    # a manifest written before the resume state was set apart lists it: it still reads without it
    old = json.loads(path.read_text())
    old["weights"]["checkpoints/guided/step-0001000/optimizer.pt"] = "0" * 64
    (copy / MANIFEST).write_text(json.dumps(old))
    assert read_manifest(copy / MANIFEST)["weights_bound"] is True
    (copy / "unet" / "model.safetensors").write_bytes(b"other weights")
    with pytest.raises(UserError, match="not the ones it was written with"):
        read_manifest(copy / MANIFEST)
