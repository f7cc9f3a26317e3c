"""benchbench.records.schema: the models match what `bench run` / `bench report` write, older files and
docs/results.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from benchbench.cli import main
from benchbench.errors import UserError
from benchbench.records.schema import MODELS, Answer, AnswerV1, CellRecord, Results, answer_version, validate_answer
from benchbench.records.store import load_results

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "results.md"
STUDY = ROOT / "examples" / "study" / "results"


REQUIRED = {"results": {"schema_version", "run", "cells", "summary"},
            "cell": {"id", "key", "cell", "status", "metrics"},
            "answer": {"schema_version", "verdict", "analysis", "rows"}}


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_bench_schema_prints_the_json_schema(kind):
    res = CliRunner().invoke(main, ["schema", kind])
    assert res.exit_code == 0, res.output
    schema = json.loads(res.output)
    assert schema["title"] == MODELS[kind].__name__
    assert REQUIRED[kind] <= set(schema["properties"])


def test_bench_schema_refuses_an_unknown_kind():
    res = CliRunner().invoke(main, ["schema", "matrix"])
    assert res.exit_code == 2
    assert "results" in res.output and "answer" in res.output


def test_a_toy_run_validates(runs):
    """What `bench run` and its report wrote: results.json, every cell file and answer.json."""
    root = runs["base"]
    results = json.loads((root / "results.json").read_text())
    parsed = Results.model_validate(results)
    assert parsed.cells and parsed.run.environment is not None and parsed.run.checksums
    assert any(c.cell.generator and c.synthetic_in_training is not None for c in parsed.cells)
    assert load_results(root) == results  # validation never changes what readers get
    for f in sorted((root / "cells").glob("*.json")):
        CellRecord.model_validate_json(f.read_text())
    answer = json.loads((root / "answer.json").read_text())
    assert answer["schema_version"] == 2
    assert isinstance(validate_answer(answer, root / "answer.json"), Answer)


def test_committed_answers_of_both_engines_validate():
    """The study's committed answers: the first engine's (no version, no analysis) and today's (no version)."""
    kinds = {f.name: type(validate_answer(json.loads(f.read_text()), f)) for f in STUDY.glob("*-answer.json")}
    assert kinds["flyd-s-study-answer.json"] is AnswerV1
    assert kinds["flyd-s-classic-answer.json"] is AnswerV1
    assert kinds["flyd-s-cv-classic-answer.json"] is Answer


def test_answer_version_is_the_recorded_one_else_inferred():
    assert answer_version({"schema_version": 2, "verdict": "x"}) == 2
    assert answer_version({"verdict": "x", "analysis": {}, "rows": []}) == 2
    assert answer_version({"verdict": "x", "rows": []}) == 1


def test_a_malformed_results_json_is_one_line_naming_file_and_field(runs, tmp_path):
    data = json.loads((runs["base"] / "results.json").read_text())
    data["cells"][0]["status"] = "done"
    (tmp_path / "results.json").write_text(json.dumps(data))
    with pytest.raises(UserError) as err:
        load_results(tmp_path)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(tmp_path / "results.json") in msg and "cells[0].status" in msg


def test_unknown_keys_are_kept(runs, tmp_path):
    data = json.loads((runs["base"] / "results.json").read_text())
    data["from_the_future"] = {"x": 1}
    data["cells"][0]["info"]["plugin_fact"] = [1, 2]
    (tmp_path / "results.json").write_text(json.dumps(data))
    assert load_results(tmp_path) == data


# --------------------------------------------------------------------------- docs/results.md in step
def _table_keys(heading: str) -> list[str]:
    """The backticked names in the key column of the table under ``heading``; a bare name after a dotted
    one (`metrics.mAP50_95`, `mAP50`) shares its prefix, as the docs write them."""
    text = DOCS.read_text()
    body = text.split(f"\n{heading}\n", 1)[1].split("\n#", 1)[0]
    keys = []
    for line in body.splitlines():
        if not line.startswith("| `"):
            continue
        prefix = ""
        for name in re.findall(r"`([^`]+)`", line.split("|")[1]):
            if "." in name:
                prefix = name.rsplit(".", 1)[0]
            elif prefix:
                name = f"{prefix}.{name}"
            keys.append(name)
    return keys


def _has(model: type[BaseModel], path: str) -> bool:
    field, _, rest = path.replace("[]", "").partition(".")
    info = model.model_fields.get(field)
    if info is None:
        return False
    if not rest:
        return True
    return any(_has(m, rest) for m in _models_in(info.annotation))


def _models_in(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in getattr(annotation, "__args__", ()) for m in _models_in(a)]


DYNAMIC = re.compile(r"^metrics\.AP\d+$")  # the matrix's extra IoU thresholds: extra keys, not fields


@pytest.mark.parametrize(("heading", "model"), [("## results.json", Results), ("## A cell", CellRecord),
                                                ("## answer.json (and the top of report.md)", Answer)])
def test_every_key_docs_results_md_names_is_in_the_schema(heading, model):
    keys = _table_keys(heading)
    assert len(keys) > 15, keys  # the table was found and parsed
    missing = [k for k in keys if not DYNAMIC.search(k) and not _has(model, k)]
    assert not missing, f"docs/results.md ({heading}) names keys records.schema.{model.__name__} lacks: {missing}"


def test_what_the_schema_repeats_of_the_planner_and_matrix_stays_in_step():
    """``cell`` is planner.Cell.to_dict() and ``mode`` the matrix's; the schema repeats them (it must not
    import the planner or the matrix, which import numpy)."""
    import dataclasses
    from typing import get_args

    from benchbench.method.matrix import Matrix
    from benchbench.pipeline.planner import Cell
    from benchbench.records.schema import CellSpec

    assert set(CellSpec.model_fields) == {f.name for f in dataclasses.fields(Cell)} | {"id"}
    modes = {a for a in get_args(CellRecord.model_fields["mode"].annotation) for a in get_args(a) or [a]}
    assert modes - {type(None)} == set(get_args(Matrix.model_fields["mode"].annotation))
