"""What a run folder's JSON files hold: the cell record, results.json and answer.json, declared once.

docs/results.md explains each key; these models are the authority on which keys exist and their types
(``bench schema results|cell|answer`` prints them as JSON Schema). Every model allows keys it does not
declare: plugins add theirs (``info``, detector ``params``), and a folder written by a newer benchbench
still loads. What a key held in older folders stays valid here: a field added later is optional, and
answer.json of the first answer engine has its own model (:class:`AnswerV1`, see :func:`validate_answer`).

Import-light (pydantic only): ``bench report`` and ``bench rescore`` load it without torch.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from benchbench.errors import UserError

ANSWER_SCHEMA_VERSION = 2  # 1: best ratio per row, frame bootstrap (no `analysis`); 2: paired t across specimens


class Open(BaseModel):
    """A record that keeps keys it does not declare (plugins' and newer benchbench versions')."""

    model_config = ConfigDict(extra="allow")


Interval = list[float | None]  # [lo, hi]; null where no resample defined it


# --------------------------------------------------------------------------- a cell
class CellSpec(Open):
    """``cell``: what the planner asked for (benchbench.pipeline.planner.Cell.to_dict)."""

    id: str
    detector: str
    seed: int
    ratio: float = 0.0
    generator: str | None = None
    guidance: float | None = None
    n_syn_pos: int = 0
    n_syn_neg: int = 0
    n_real_pos: int = 0
    n_real_neg: int = 0
    budget: Literal["epochs", "steps"] = "epochs"
    budget_frames: int | None = None
    fold: int | None = Field(None, description="absent with a plain split")


class Metric(Open):
    value: float | None
    ci: Interval | None = Field(None, description="95% grouped bootstrap CI; absent for point-only metrics")


class Masks(Open):
    available: bool = True
    reason: str | None = None


class Metrics(Open):
    """``metrics``: the final model's scores on the test frames. Extra keys: ``AP<t>`` per extra IoU threshold."""

    mAP50_95: Metric
    mAP50: Metric
    mAP75: Metric | None = None
    AR100: Metric | None = None
    coco: dict[str, float] = Field(default_factory=dict, description="the 12 pycocotools stats")
    frame: dict[str, Any] = Field(default_factory=dict)
    sizes: dict[str, Any] | None = None
    errors: dict[str, Any] | None = None
    operating_point: dict[str, Any] | None = None
    masks: Masks | None = None
    groups: dict[str, dict[str, Any]] | None = Field(None, description="point metrics per test specimen")


class DetectorInfo(Open):
    name: str
    plugin: str
    version: str
    params: dict[str, Any] = Field(default_factory=dict)


class GeneratorInfo(Open):
    name: str


class Counts(Open):
    real_train_pos: int | None = None
    real_train_neg: int | None = None
    synthetic_pos_planned: int | None = None
    synthetic_pos: int | None = None
    synthetic_pos_dropped: int | None = None
    synthetic_neg: int | None = None
    test: int | None = None
    test_pos: int | None = None


class SyntheticInTraining(Open):
    crack: int
    sane: int


class Timings(Open):
    """Seconds per phase; a phase the cell did not reach is absent."""

    fit: float | None = None
    predict: float | None = None
    predict_val: float | None = None
    evaluate: float | None = None
    total: float | None = None
    curve: float | None = None
    rescore: float | None = None


class Budget(Open):
    mode: Literal["epochs", "steps"]
    reference_frames: int | None = None
    train_frames: int | None = None
    epochs: float | None = None
    steps: int | None = None
    images_seen: int | None = None


class Runtime(Open):
    threads: dict[str, str | None] = Field(default_factory=dict)
    torch_threads: int | None = None
    cuda: Any = None


class CurvePoint(Open):
    """One checkpoint of the learning curve. Extra keys: point metrics (mAP50_95, mAP50, AP<t>, hit_AP)."""

    steps: int
    epochs: float | None = None
    groups: dict[str, dict[str, Any]] = Field(default_factory=dict)
    predictions: str | None = None


class Artifacts(Open):
    predictions: str | None = None
    predictions_val: str | None = None
    ground_truth: str | None = None
    worst_frames: str | None = None


class Rescored(Open):
    at: str
    benchbench: str
    git_commit: str | None = None
    schema_version: int


class CellRun(Open):
    name: str
    dir: str
    leaderboard: str | None = None


class CellRecord(Open):
    """One cell's result: ``cells/<id>.json`` and an entry of results.json's ``cells``."""

    schema_version: int = 1
    id: str
    key: str
    cell: CellSpec
    status: Literal["ok", "failed"]
    error: str | None = None
    fold: int | None = None
    test_groups: list[str] | None = None
    detector: DetectorInfo | None = None
    generator: GeneratorInfo | None = None
    metrics: Metrics | None = Field(None, description="absent on a failed cell")
    counts: Counts = Field(default_factory=Counts)
    synthetic_in_training: SyntheticInTraining | None = None
    teacher: dict[str, Any] | None = None
    labeler: dict[str, Any] | None = None
    mode: Literal["add", "replace", "tstr"] | None = None
    runtime: Runtime | None = None
    timings: Timings = Field(default_factory=Timings)
    budget: Budget | None = None
    info: dict[str, Any] = Field(default_factory=dict, description="facts the plugin recorded (ctx.record)")
    warnings: list[str] = Field(default_factory=list)
    curve: list[CurvePoint] | None = None
    plugin_code: dict[str, str] | None = None
    artifacts: Artifacts | None = None
    checksums: dict[str, str] = Field(default_factory=dict)
    rescored: Rescored | None = None
    run: CellRun | None = None
    started: str | None = None
    finished: str | None = None


# --------------------------------------------------------------------------- results.json
class Environment(Open):
    """``run.environment`` (benchbench.environment)."""

    python: str
    platform: str | None = None
    cpu_count: int | None = None
    packages: dict[str, str | None] = Field(default_factory=dict)
    plugin_distributions: dict[str, str] = Field(default_factory=dict)
    threads: dict[str, str | None] = Field(default_factory=dict)
    lock: dict[str, Any] | None = None


class FoldInfo(Open):
    fold: int
    test_groups: list[str]
    train_groups: list[str]
    n_train: int
    n_val: int
    n_test: int


class RunHeader(Open):
    """``run``: what was run, on what, by which code."""

    id: str
    name: str
    matrix_file: str | None = None
    matrix_sha256: str | None = None
    matrix: dict[str, Any]
    git_commit: str | None = None
    benchbench_version: str
    plugins: dict[str, Any] = Field(default_factory=dict)
    python: str | None = None
    platform: str | None = None
    machine: str | None = None
    environment: Environment | None = None
    seeds: list[int]
    started: str
    finished: str | None = None
    complete: bool
    data: dict[str, Any] = Field(default_factory=dict)
    folds: list[FoldInfo] | None = Field(None, description="only with split.folds")
    generation: dict[str, Any] = Field(default_factory=dict)
    metric_directions: dict[str, bool] = Field(default_factory=dict)
    plan_notes: list[str] = Field(default_factory=list)
    generator_provenance: dict[str, dict[str, Any]] = Field(default_factory=dict)
    checksums: dict[str, str] = Field(default_factory=dict, description="sha256 of each test_gt*.json")
    rescored: dict[str, Any] | None = None
    warnings: list[str] = Field(default_factory=list)


class SummaryRow(Open):
    """Per (detector, generator, guidance, ratio). Extra keys: each metric's ``{mean, std, n}``."""

    detector: str
    generator: str | None = None
    guidance: float | None = None
    ratio: float
    seeds: list[int]
    n_failed: int
    folds: list[int] | None = None


class Results(Open):
    """results.json."""

    schema_version: int = Field(1, description="2: crack-scale metrics; absent in the oldest folders")
    run: RunHeader
    cells: list[CellRecord]
    summary: list[SummaryRow] = Field(default_factory=list)
    generator_scores: dict[str, Any] | None = Field(None, description="see docs/results.md, generator_scores")


# --------------------------------------------------------------------------- answer.json
class Analysis(Open):
    metric: str
    margin: float
    alpha: float
    floor: Any = None
    fixed_before_run: bool
    test: str
    adjustment: str
    min_specimens: int
    floor_note: str = ""


class SpecimenDelta(Open):
    real_only: float | None
    synthetic: float | None
    delta: float | None


class AnswerRow(Open):
    detector: str
    generator: str
    guidance: float | None = None
    budget: Literal["epochs", "steps"]
    ratio: float
    seeds: list[int]
    n_specimens: int
    verdict: Literal["helped", "hurt", "equivalent", "inconclusive", "not-informative"]
    reason: str
    metric: str
    real_only: float | None = None
    synthetic: float | None = None
    delta: float | None = None
    ci: Interval
    p: float | None = None
    p_holm: float | None = None
    p_tost: float | None = None
    p_tost_holm: float | None = None
    mde: float | None = None
    by_specimen: dict[str, SpecimenDelta] = Field(default_factory=dict)
    synthetic_in_training: dict[str, Any] | None = None
    secondary_unadjusted: dict[str, dict[str, Any]] = Field(default_factory=dict)
    note: str = ""


class Interaction(Open):
    detector: str
    generator: str
    guidance: float | None = None
    ratio: float
    n_specimens: int
    delta: float | None = None
    ci: Interval
    p: float | None = None
    p_holm: float | None = None
    budget_effect: bool


class Answer(Open):
    """answer.json: did synthetic frames help, per row, with the declared analysis."""

    schema_version: int = Field(2, description="absent in answers written before it was recorded")
    verdict: str
    analysis: Analysis
    rows: list[AnswerRow]
    interactions: list[Interaction] = Field(default_factory=list)


class AnswerRowV1(Open):
    """A row of the first answer engine. Extra keys: per metric ``{real_only, synthetic, delta, ci, p, p_adjusted}``."""

    detector: str
    generator: str
    guidance: float | None = None
    budget: str
    ratio: float
    seeds: list[int]
    note: str = ""


class AnswerV1(Open):
    """answer.json of the first answer engine (best ratio per row, Bonferroni; no ``analysis``)."""

    schema_version: Literal[1] = 1
    verdict: str
    rows: list[AnswerRowV1]


MODELS: dict[str, type[BaseModel]] = {"results": Results, "cell": CellRecord, "answer": Answer}


def answer_version(data: Any) -> int:
    """answer.json's schema version: recorded, else 2 when it has the declared ``analysis``, else 1."""
    if isinstance(data, dict) and isinstance(data.get("schema_version"), int):
        return data["schema_version"]
    return 2 if isinstance(data, dict) and "analysis" in data else 1


def validate_answer(data: Any, file: Any = None) -> Answer | AnswerV1:
    """The answer as its version's model, or a UserError naming ``file`` and the first bad field."""
    return validate(AnswerV1 if answer_version(data) == 1 else Answer, data, file)


def validate(model: type[BaseModel], data: Any, file: Any = None) -> Any:
    """``model.model_validate(data)``, a failure as a one-line UserError naming the file and field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".") or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise UserError(f"not a valid {model.__name__}: {first['msg']}{more}", file=file, field=where,
                        fix="give a file written by `bench run` / `bench report`, or run them again") from None
