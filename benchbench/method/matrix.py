"""The matrix file: pydantic models, loading, and one-line errors with field paths."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from benchbench.data.folds import fold_keys, fold_params, known_folds
from benchbench.errors import UserError
from benchbench.executors.options import run_executor_options
from benchbench.method.curves import DEFAULT_CURVE
from benchbench.method.evaluation import DEFAULT_SIZE_RANGES
from benchbench.method.scores import ScoresSpec
from benchbench.plugins import PluginRef
from benchbench.yamlfile import load_yaml

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
MAX_MATRIX_BYTES = 5 * 1024 * 1024  # a matrix is a few KB; a huge file is a mistake (or a YAML bomb)
# Upper bounds (docs/matrix.md "Bounds"): far above any study, low enough that a typo is refused by
# `bench validate` before anything is allocated, not found by the OOM killer hours into a run.
MAX_NAME = 64  # characters of a name; a cell id joins several into a file name (255 bytes at most)
MAX_ROWS = 50  # generator rows, detector rows
MAX_SEEDS = 100
MAX_AXIS_VALUES = 50  # values of one axis
MAX_SYNTHETIC_RATIO = 100.0  # synthetic frames per real training frame
MAX_CELLS = 10_000  # cells the axes (and folds) can make, before rows narrow them
MAX_FOLDS = 100
MAX_BOOTSTRAP = 100_000
MAX_SAMPLES = 1_000
MAX_SHOWN = 60  # characters of a bad value quoted in an error: the line stays one readable line


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PluginSpec(BaseModel):
    """A generator or detector row: ``name``, ``plugin`` and the plugin's own parameters."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    name: str = Field(pattern=_NAME, max_length=MAX_NAME)
    plugin: str | None = Field(None, max_length=200)
    # run this row for these matrix seeds only
    seeds: list[int] | None = Field(None, min_length=1, max_length=MAX_SEEDS)
    timeout: float | None = Field(None, gt=0)  # seconds per job of this row (default: the matrix's)

    @property
    def plugin_name(self) -> str:
        return self.plugin or self.name

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class DetectorSpec(PluginSpec):
    """A detector row; ``generators`` and ``ratios`` limit which cells it runs ([] generators: real only)."""

    generators: list[str] | None = None
    ratios: list[float] | None = Field(None, min_length=1, max_length=MAX_AXIS_VALUES)


class DataSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    dataset: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class SplitSpec(_Strict):
    test_fraction: float | None = Field(0.3, gt=0, lt=1)  # None with folds (they choose the test specimens)
    val_fraction: float = Field(0.0, ge=0, lt=1)
    by: Literal["group"] = "group"
    group_regex: str | None = None
    test_groups: list[str] | None = None
    # dropped before splitting: e.g. a study's test specimens while its settings are tuned
    exclude_groups: list[str] | None = None
    seed: int = 0
    # grouped K-fold over the specimens (benchbench.data.folds): every specimen is tested once per setting
    folds: int | Literal["loso"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_way(cls, v: Any) -> Any:
        # before validation: a test_fraction left at its default must not count as given
        if isinstance(v, dict) and v.get("folds") is not None:
            given = [k for k in ("test_fraction", "test_groups") if v.get(k) is not None]
            if given:
                raise ValueError(f"folds choose every test specimen: remove {' and '.join(given)} "
                                 "(or remove folds)")
        return v

    @field_validator("folds")
    @classmethod
    def _k(cls, v: Any) -> Any:
        if isinstance(v, bool) or (isinstance(v, int) and not 2 <= v <= MAX_FOLDS):
            raise ValueError(f"folds must be an integer >= 2 or 'loso' (one fold per specimen); at most {MAX_FOLDS}")
        return v

    @model_validator(mode="after")
    def _no_fraction(self) -> SplitSpec:
        if self.folds is not None:  # so the matrix a run records reads back (bench rescore)
            self.test_fraction = None
        elif self.test_fraction is None:
            raise ValueError("test_fraction: give a number between 0 and 1 (e.g. 0.3), or split.folds")
        return self


def check_fold_weights(generators: list[PluginSpec], folds: int | str | None) -> None:
    """Per-fold weights (a ``weights`` list indexed by fold, or any path with ``{fold}``) need folds, one folder
    each."""
    for i, g in enumerate(generators):
        w = g.params.get("weights")
        if isinstance(w, list):
            if folds is None:
                raise ValueError(f"generators[{i}].weights: '{g.name}': a list of weights needs split.folds "
                                 "(one folder per fold)")
            if not w or not all(isinstance(x, str) for x in w):
                raise ValueError(f"generators[{i}].weights: '{g.name}': give one folder (a string) per fold")
            if isinstance(folds, int) and len(w) != folds:
                raise ValueError(f"generators[{i}].weights: '{g.name}': {len(w)} folders for {folds} folds: "
                                 "give one per fold, in fold order")
        elif folds is None and (keys := fold_keys(g.params)):
            raise ValueError(f"generators[{i}].{keys[0]}: '{g.name}': '{{fold}}' in the path needs split.folds")


class AxesSpec(_Strict):
    synthetic_ratio: list[float] = Field(default_factory=lambda: [0.0], min_length=1, max_length=MAX_AXIS_VALUES)
    guidance: list[float] = Field(default_factory=lambda: [7.5], min_length=1, max_length=MAX_AXIS_VALUES)
    # epochs: every cell trains the detector's epochs; steps: every cell of a detector row trains as many
    # optimizer steps as its largest-ratio cell (so real-only is not out-trained by the extra frames)
    budget: list[Literal["epochs", "steps"]] = Field(default_factory=lambda: ["epochs"], min_length=1)

    @field_validator("synthetic_ratio")
    @classmethod
    def _ratios(cls, v: list[float]) -> list[float]:
        if any(r < 0 for r in v):
            raise ValueError("ratios must be >= 0 (0 is the real-only baseline)")
        if any(r > MAX_SYNTHETIC_RATIO for r in v):
            raise ValueError(f"ratios must be <= {MAX_SYNTHETIC_RATIO:g} (synthetic frames per real training frame)")
        if len(set(v)) != len(v):
            raise ValueError("ratios must be unique")
        return sorted(v)

    @field_validator("budget", mode="before")
    @classmethod
    def _budget_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("budget")
    @classmethod
    def _budget(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("budgets must be unique")
        return sorted(v)  # "epochs" before "steps": a stable order for plans and reports

    @field_validator("guidance")
    @classmethod
    def _guidance(cls, v: list[float]) -> list[float]:
        if any(g < 0 for g in v):
            raise ValueError("guidance scales must be >= 0")
        if len(set(v)) != len(v):
            raise ValueError("guidance scales must be unique")
        return v


class LabelerSpec(_Strict):
    """Where a synthetic cracked frame's boxes come from (docs/generators.md, "Labels").

    ``teacher``: the real-only baseline's model, by ``rule`` — ``relative`` (the default) keeps a frame's
    top box when it scores at least the ``quantile`` of the teacher's top scores on the real cracked
    training frames; ``absolute`` keeps every box scoring ``threshold`` or more (given a ``threshold``
    and no ``rule``, the rule is absolute, as before the relative rule existed). ``generator``: the
    generator's own boxes. ``mask``: the boxes of the crack mask each generated frame carries.
    """

    kind: Literal["teacher", "generator", "mask"] = "teacher"
    rule: Literal["relative", "absolute"] = "relative"
    threshold: float = Field(0.5, ge=0, le=1)
    quantile: float = Field(0.25, ge=0, le=1)

    @model_validator(mode="before")
    @classmethod
    def _threshold_means_absolute(cls, v: Any) -> Any:
        if isinstance(v, dict) and "threshold" in v and "rule" not in v:
            return {**v, "rule": "absolute"}
        return v

    def key(self) -> dict[str, Any]:
        """The part of a cell's key: as before the rule existed where it acts as it did then (cached
        cells of such matrices stay valid), the whole spec where it does not."""
        if self.kind == "generator" or (self.kind == "teacher" and self.rule == "absolute"):
            return {"kind": self.kind, "threshold": self.threshold}
        return self.model_dump()


def labeler_shorthand(v: Any) -> Any:
    """``labeler: mask`` means ``labeler: {kind: mask}`` (matrix and generator rows alike)."""
    return {"kind": v} if isinstance(v, str) else v


class GeneratorSpec(PluginSpec):
    """A generator row; ``labeler`` overrides the matrix's for this row's synthetic cracked frames (a
    diffusion row taught by the real-only model beside a ``physics`` row labelled by its masks).
    ``resize: real`` has the harness resize each of the row's frames to a crop size of the fold's real
    training frames (pipeline.calibration.real_crop_sizes), as the physics simulator's calibration does
    for its own frames, so synthetic and real cracks keep the same apparent width after the detector's
    resize; ``none`` (default) leaves them at the matrix's ``size``."""

    labeler: LabelerSpec | None = None
    resize: Literal["none", "real"] = "none"

    @field_validator("labeler", mode="before")
    @classmethod
    def _labeler_str(cls, v: Any) -> Any:
        return labeler_shorthand(v)


class MetricsSpec(_Strict):
    iou_thresholds: list[float] = Field(default_factory=lambda: [0.1, 0.3], max_length=MAX_AXIS_VALUES)
    score_threshold: float = Field(0.5, ge=0, le=1)
    bootstrap: int = Field(1000, ge=0, le=MAX_BOOTSTRAP)
    # Crack-scale size ranges: name -> [low, high] of the measure (high null: no bound).
    size_measure: Literal["short_side", "long_side", "area"] = "short_side"
    size_ranges: dict[str, tuple[float, float | None]] = Field(
        default_factory=lambda: {k: tuple(v) for k, v in DEFAULT_SIZE_RANGES.items()}, max_length=MAX_AXIS_VALUES)
    operating_iou: float = Field(0.1, gt=0, lt=1)  # a crack is found at the operating point at this IoU
    hit_cover: float = Field(0.5, gt=0, le=1)  # mask hit rule: share of a crack's pixels a box covers
    hit_distance: float = Field(3.0, ge=0)  # ... or px from a box centre to the crack's skeleton
    # Learning curve: shares of each cell's training after which a detector that supports it is scored on
    # the test frames (reported only, never selected on); true: 25/50/100 %; null: no curve
    curve: list[float] | None = None

    @field_validator("iou_thresholds")
    @classmethod
    def _ious(cls, v: list[float]) -> list[float]:
        if any(not 0 < t < 1 for t in v):
            raise ValueError("IoU thresholds must be in (0, 1)")
        return v

    @field_validator("size_ranges")
    @classmethod
    def _sizes(cls, v: dict[str, tuple[float, float | None]]) -> dict[str, tuple[float, float | None]]:
        if not v:
            raise ValueError("give at least one size range, e.g. {hairline: [0, 4.5], wide: [4.5, null]}")
        for name, (lo, hi) in v.items():
            if not re.match(_NAME, name) or len(name) > MAX_NAME:
                raise ValueError(f"size range name {name!r} must be letters, digits, '_', '-' or '.' "
                                 f"(at most {MAX_NAME})")
            if lo < 0 or (hi is not None and hi <= lo):
                raise ValueError(f"size range {name!r}: need 0 <= low < high (or high null), got [{lo}, {hi}]")
        return v

    @field_validator("curve", mode="before")
    @classmethod
    def _curve_default(cls, v: Any) -> Any:
        if v is True:
            return list(DEFAULT_CURVE)
        return None if v is False else v

    @field_validator("curve")
    @classmethod
    def _curve(cls, v: list[float] | None) -> list[float] | None:
        if v is None:
            return v
        if not v or any(not 0 < s <= 1 for s in v):
            raise ValueError("curve: give shares of the training in (0, 1], e.g. [0.25, 0.5, 1.0] (or true)")
        if len(set(v)) != len(v):
            raise ValueError("curve: shares must be unique")
        return sorted(v)

    def key(self) -> dict[str, Any]:
        """What a cell's key holds of this block: ``curve`` only when set, so that runs made before the
        curve existed keep their keys (and resume)."""
        return self.model_dump(exclude=None if self.curve else {"curve"})

    def eval_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``evaluation.evaluate_predictions`` (bootstrap seed 0)."""
        return {"iou_thresholds": self.iou_thresholds, "score_threshold": self.score_threshold,
                "n_boot": self.bootstrap, "seed": 0, "size_ranges": dict(self.size_ranges),
                "size_measure": self.size_measure, "operating_iou": self.operating_iou,
                "hit_cover": self.hit_cover, "hit_distance": self.hit_distance}


# The answer's primary metrics: point metrics every test specimen's slice carries (evaluation._group_slices),
# all higher-is-better. AP<nn>: AP at IoU 0.nn, which must be one of metrics.iou_thresholds.
ANSWER_METRIC = r"^(mAP50_95|mAP50|AP\d\d|hit_AP|crack_recall|pixel_recall|box_precision|op_f1)$"


class FloorSpec(_Strict):
    """Competence floor relative to a detector row: the real-only score of ``relative_to`` × ``fraction``."""

    relative_to: str = Field("classic", pattern=_NAME)
    fraction: float = Field(0.8, gt=0, le=2)


class AnswerSpec(_Strict):
    """The declared analysis of the answer (docs/results.md): fixed before anything runs."""

    metric: str = "AP10"
    margin: float = Field(0.05, gt=0, lt=1)  # the smallest |Δ| that matters, in metric units
    alpha: float = Field(0.05, gt=0, lt=0.5)
    # None: no floor; a number: an absolute floor on the real-only baseline's mean over specimens
    floor: FloorSpec | float | None = Field(default_factory=FloorSpec)

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        if not re.match(ANSWER_METRIC, v):
            raise ValueError("not a per-specimen metric the answer can test; use AP10 (AP at IoU 0.1), "
                             "another AP<nn>, mAP50, mAP50_95, hit_AP, crack_recall, pixel_recall, box_precision "
                             "or op_f1")
        return v

    @field_validator("floor", mode="before")
    @classmethod
    def _floor_shorthand(cls, v: Any) -> Any:
        return {"relative_to": v} if isinstance(v, str) else v

    @field_validator("floor")
    @classmethod
    def _floor_range(cls, v: FloorSpec | float | None) -> FloorSpec | float | None:
        if isinstance(v, float) and not 0 <= v <= 1:
            raise ValueError("an absolute floor is a score in [0, 1]")
        return v


class ExecutorSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = "local"

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Matrix(_Strict):
    name: str = Field(pattern=_NAME, max_length=MAX_NAME)
    seed: list[int] = Field(default_factory=lambda: [0], min_length=1, max_length=MAX_SEEDS)
    data: DataSpec
    split: SplitSpec = Field(default_factory=SplitSpec)
    generators: list[GeneratorSpec] = Field(default_factory=list, max_length=MAX_ROWS)
    detectors: list[DetectorSpec] = Field(min_length=1, max_length=MAX_ROWS)
    axes: AxesSpec = Field(default_factory=AxesSpec)
    mode: Literal["add", "replace", "tstr"] = "add"  # tstr: synthetic cells train on synthetic frames only
    positive_fraction: float | None = Field(None, ge=0, le=1)
    labeler: LabelerSpec = Field(default_factory=LabelerSpec)
    metrics: MetricsSpec = Field(default_factory=MetricsSpec)
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    leaderboard: str | None = None
    samples: int = Field(8, ge=0, le=MAX_SAMPLES)
    timeout: float | None = Field(None, gt=0)  # seconds per job unless its row says otherwise; None: no limit
    scores: ScoresSpec = Field(default_factory=ScoresSpec)  # generator scores (docs/generators.md)
    answer: AnswerSpec = Field(default_factory=AnswerSpec)  # the declared analysis (docs/results.md)

    @field_validator("seed", mode="before")
    @classmethod
    def _seed_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("labeler", mode="before")
    @classmethod
    def _labeler_str(cls, v: Any) -> Any:
        return labeler_shorthand(v)

    @model_validator(mode="after")
    def _consistent(self) -> Matrix:
        for kind in ("generators", "detectors"):
            names = [s.name for s in getattr(self, kind)]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{kind}: duplicate name {dupes[0]!r}; give each row a unique name")
        if len(set(self.seed)) != len(self.seed):
            raise ValueError("seed: seeds must be unique")
        # Messages start with the field path: format_validation_error reports it as the field.
        for kind in ("generators", "detectors"):
            for i, row in enumerate(getattr(self, kind)):
                extra = sorted(set(row.seeds or []) - set(self.seed))
                if extra:
                    raise ValueError(f"{kind}[{i}].seeds: '{row.name}': seeds {extra} are not in the matrix's "
                                     f"seed list {self.seed}")
        known = [g.name for g in self.generators]
        for i, det in enumerate(self.detectors):
            unknown = sorted(set(det.generators or []) - set(known))
            if unknown:
                raise ValueError(f"detectors[{i}].generators: '{det.name}': generators {unknown} are not "
                                 f"generator rows (known: {known or 'none'})")
            extra = sorted(set(det.ratios or []) - set(self.axes.synthetic_ratio))
            if extra:
                raise ValueError(f"detectors[{i}].ratios: '{det.name}': ratios {extra} are not in "
                                 f"axes.synthetic_ratio {self.axes.synthetic_ratio}")
        if any(r > 0 for r in self.axes.synthetic_ratio) and not self.generators:
            raise ValueError("axes.synthetic_ratio: ratios > 0 need at least one entry in generators")
        if self.mode == "replace" and any(r > 1 for r in self.axes.synthetic_ratio):
            raise ValueError("axes.synthetic_ratio: mode 'replace' needs ratios <= 1 (share of a fixed total)")
        check_fold_weights(self.generators, self.split.folds)
        self._check_answer()
        a = self.axes
        folds = self.split.folds if isinstance(self.split.folds, int) else 1  # loso: counted when planned
        most = folds * len(self.seed) * len(self.detectors) * len(a.budget) * (
            1 + len(self.generators) * len(a.guidance) * len(self.synthetic_ratios))
        if most > MAX_CELLS:
            raise ValueError(f"axes: folds x seeds x detectors x (1 + generators x guidance x ratios) x budgets = "
                             f"{most} cells, over the {MAX_CELLS} a matrix may plan; split it into several matrices")
        return self

    def _check_answer(self) -> None:
        metric, floor = self.answer.metric, self.answer.floor
        if re.match(r"^AP\d\d$", metric) and int(metric[2:]) not in {round(t * 100) for t in
                                                                    self.metrics.iou_thresholds}:
            raise ValueError(f"answer.metric: {metric} needs IoU {int(metric[2:]) / 100:g} in "
                             f"metrics.iou_thresholds {self.metrics.iou_thresholds}; add it or pick another metric")
        # The default floor (relative to 'classic') applies when the matrix has that row, and a validated
        # matrix (results.json run.matrix) must parse again without it; any other row must exist.
        if isinstance(floor, FloorSpec) and floor.relative_to != FloorSpec().relative_to \
                and floor.relative_to not in [d.name for d in self.detectors]:
            raise ValueError(f"answer.floor.relative_to: '{floor.relative_to}' is not a detector row "
                             f"(known: {[d.name for d in self.detectors]})")

    def labeler_of(self, generator: str | None) -> LabelerSpec:
        """Who labels the cracked frames of a generator row (its own ``labeler``, else the matrix's); the
        matrix's for real-only cells, whose keys have always carried it."""
        row = next((g for g in self.generators if g.name == generator), None)
        return row.labeler if row is not None and row.labeler is not None else self.labeler

    def timeout_of(self, row: PluginSpec) -> float | None:
        return row.timeout if row.timeout is not None else self.timeout

    def seeds_of(self, row: PluginSpec) -> list[int]:
        return row.seeds if row.seeds is not None else self.seed

    def trains_with(self, detector: DetectorSpec, generator: str) -> bool:
        return detector.generators is None or generator in detector.generators

    def runs_ratio(self, detector: DetectorSpec, ratio: float) -> bool:
        return detector.ratios is None or ratio in detector.ratios

    def used_generators(self) -> set[str]:
        """Generator rows some detector trains with at some synthetic ratio (the others are not run)."""
        return {g.name for g in self.generators if any(
            self.trains_with(d, g.name) and any(self.runs_ratio(d, r) for r in self.synthetic_ratios)
            for d in self.detectors)}

    @property
    def synthetic_ratios(self) -> list[float]:
        return [r for r in self.axes.synthetic_ratio if r > 0]


_FIXES = {
    "missing": "add this key",
    "extra_forbidden": "remove it or check its spelling",
    "string_pattern_mismatch": "use letters, digits, '_', '-', '.'",
    "string_too_long": "shorten it (a name becomes part of file names)",
    "too_long": "give fewer values (bounds: docs/matrix.md)",
    "less_than_equal": "use a smaller value (bounds: docs/matrix.md)",
}


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def format_validation_error(exc: ValidationError, file: str) -> UserError:
    errs = exc.errors()
    first = errs[0]
    msg = first["msg"].removeprefix("Value error, ")
    if "input" in first and first["type"] not in ("missing",) and not isinstance(first["input"], dict | list):
        got = repr(first["input"])
        msg += f" (got {got if len(got) <= MAX_SHOWN else got[:MAX_SHOWN - 3] + '...'})"
    more = f" (+{len(errs) - 1} more problem{'s' * (len(errs) > 2)})" if len(errs) > 1 else ""
    field = _loc(first["loc"])
    if not first["loc"] and (m := re.match(r"([A-Za-z_]+(?:\[\d+\])?(?:\.[A-Za-z_]+)*): (.+)", msg, re.S)):
        field, msg = m.groups()
    return UserError(msg + more, file=file, field=field,
                     fix=_FIXES.get(first["type"], "see docs/matrix.md"))


def parse_matrix(raw: Any, file: str = "<matrix>") -> Matrix:
    if not isinstance(raw, dict):
        raise UserError("the matrix must be a YAML mapping (name:, data:, detectors:, ...)", file=file,
                        fix="see examples/quickstart.yaml")
    try:
        return Matrix.model_validate(raw)
    except ValidationError as exc:
        raise format_validation_error(exc, file) from None


def read_matrix_file(path: str | Path) -> tuple[dict[str, Any], str]:
    """Read YAML safely; return (raw mapping, sha256 of the file bytes)."""
    p = Path(path)
    try:
        if p.is_file() and p.stat().st_size > MAX_MATRIX_BYTES:
            raise UserError(f"matrix file is {p.stat().st_size / 2**20:.1f} MB, over the "
                            f"{MAX_MATRIX_BYTES // 2**20} MB a matrix may have", file=p,
                            fix="give the matrix .yaml, not a data file")
        text = p.read_bytes()
    except FileNotFoundError:
        raise UserError("matrix file not found", file=p, fix="check the path") from None
    except IsADirectoryError:
        raise UserError("is a folder, not a matrix file", file=p, fix="give the .yaml file") from None
    raw = load_yaml(text, p)
    return raw, hashlib.sha256(text).hexdigest()


def load_matrix(path: str | Path) -> tuple[Matrix, str]:
    raw, digest = read_matrix_file(path)
    return parse_matrix(raw, str(path)), digest


def check_plugins(matrix: Matrix, file: str, plugins: Any, executor: bool = True) -> list[Any]:
    """Every named plugin exists and accepts its parameters; returns the instances' entries.

    The objects built here are the process's (``Plugins.instance``): the run reuses them.
    ``executor``: check the matrix's executor options too (not when the command line replaces them).
    """
    plugins.forget_instances()  # a new run: built from the files as they are now
    checks = [("datasets", "data.dataset", matrix.data.dataset, matrix.data.params)]
    checks += [("generators", f"generators[{i}].plugin", g.plugin_name, fold_params(g.params, fold))
               for i, g in enumerate(matrix.generators) for fold in known_folds(g.params, matrix.split.folds)]
    checks += [("detectors", f"detectors[{i}].plugin", d.plugin_name, d.params)
               for i, d in enumerate(matrix.detectors)]
    entries = []
    for kind, field, name, params in checks:
        entry = plugins.registry(kind).get(name, field=field, file=file)
        row = field.rsplit(".", 1)[0]
        try:
            plugins.instance(PluginRef(kind, name, name, params))
        except UserError as exc:
            raise UserError(exc.detail, file=file, field=exc.field or row, fix=exc.fix) from None
        except (TypeError, ValueError, ArithmeticError) as exc:  # a plugin that does not check its own parameters
            raise UserError(f"{kind[:-1]} '{name}' rejected its parameters ({type(exc).__name__}: {exc})",
                            file=file, field=row, fix=f"check the parameters of '{name}' (bench plugins --all)"
                            ) from None
        entries.append(entry)
    if executor:
        entry, options = run_executor_options(plugins, matrix, file, None, {})
        if entry.options_model() is None:  # an executor without an options model checks its own
            try:
                entry.create(**options)
            except UserError as exc:
                raise UserError(exc.detail, file=file, field=exc.field or "executor", fix=exc.fix) from None
        entries.append(entry)
    return entries
