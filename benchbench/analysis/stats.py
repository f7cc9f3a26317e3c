"""Is B worse than A? Paired bootstrap over seeds and test frames, with asv-compare states.

For one cell setting (detector, generator, guidance, ratio) both sides are re-scored from their
saved predictions against the *same* held-out ground truth. The observed difference is

    Δ = mean over seeds ok on both sides of [metric(B, seed) − metric(A, seed)].

Each bootstrap resample draws the seeds with replacement and, independently, the test frames by
group (specimen) with replacement — the grouped resampling the cells' own CIs use — and applies the
*same* draw to both sides and every seed, so frame difficulty and seed luck cancel in the paired
difference. The 1 − α percentile interval of the resampled Δ is the CI; the two-sided p-value is
the smallest α at which that interval excludes 0 (so "p < α" and "CI excludes 0" agree).

A setting is **worse** when the change exceeds the metric's tolerance in the bad direction *and*
p < α; **better** symmetrically; **~** when it exceeds the tolerance without being significant;
**same** otherwise. Status transitions win over statistics: **newly failing** (a seed ok in A fails
in B), **fixed** (the reverse). **not comparable**: other data or test split, missing predictions,
or a setting present on one side only. See docs/leaderboard.md.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.environment import environment_differences
from benchbench.errors import UserError
from benchbench.hashing import sha256_json
from benchbench.jsonable import finite_or_none
from benchbench.method.evaluation import OPEN_END
from benchbench.metrics.bootstrap import iter_bootstrap_samples
from benchbench.metrics.coco import CocoEval
from benchbench.records.store import load_results, read_json_file, run_cells
from benchbench.records.summary import defined, metric_entry, metric_value, setting_of

WORSE, BETTER, UNSURE, SAME = "worse", "better", "~", "same"
NEWLY_FAILING, FIXED, NOT_COMPARABLE = "newly failing", "fixed", "not comparable"
STATES = (WORSE, BETTER, UNSURE, SAME, NEWLY_FAILING, FIXED, NOT_COMPARABLE)
REGRESSION_STATES = frozenset({WORSE, NEWLY_FAILING})

DEFAULT_METRICS = ("mAP50_95", "mAP50")
DEFAULT_TOLERANCE = 0.01  # absolute, in metric units (mAP is in [0, 1])
DEFAULT_ALPHA = 0.05
DEFAULT_N_BOOT = 1000

# Result metric name -> CocoEval stat (the names evaluation.py writes).
COCO_STATS = {"mAP50_95": "AP", "mAP50": "AP50", "mAP75": "AP75", "AR100": "AR100"}
_LOW_IOU = re.compile(r"^AP(\d\d)$")  # AP10, AP30: evaluation.iou_metric_name
_SIZED = re.compile(r"^(mAP50_95|mAP50|mAP75|AP\d\d)@([A-Za-z0-9][A-Za-z0-9_.-]*)$")  # AP per size range

Setting = tuple[Any, ...]  # summary.setting_of: (detector, generator, guidance, ratio)
Predictions = Callable[[], list[dict[str, Any]]]


# --------------------------------------------------------------------------- inputs
def check_metric(name: str) -> str:
    """The metric name if paired re-scoring supports it, else a user error listing what does."""
    if name in COCO_STATS or _LOW_IOU.match(name) or _SIZED.match(name):
        return name
    raise UserError(f"metric '{name}' cannot be compared frame by frame", field="--metric",
                    fix=f"use one of {', '.join(COCO_STATS)}, a low-IoU AP such as AP10, AP30, or either per "
                        "size range, e.g. mAP50@hairline, AP10@thin")


def parse_tolerances(values: Iterable[str], metrics: Sequence[str]) -> dict[str, float]:
    """``["0.01", "mAP50=0.02"]`` -> per-metric absolute tolerances; a bare number sets the rest."""
    default, named = DEFAULT_TOLERANCE, {}
    for raw in values:
        name, sep, num = str(raw).rpartition("=")
        try:
            tol = float(num)
        except ValueError:
            raise UserError(f"tolerance '{raw}' is not a number", field="--tolerance",
                            fix="give 0.01 (every metric) or METRIC=0.01") from None
        if not np.isfinite(tol) or tol < 0:
            raise UserError(f"tolerance '{raw}' must be a finite number >= 0", field="--tolerance")
        if not sep:
            default = tol
        elif name in metrics:
            named[name] = tol
        else:
            raise UserError(f"tolerance for '{name}', which is not compared", field="--tolerance",
                            fix=f"compare it with --metric {name}, or use one of {', '.join(metrics)}")
    return {m: named.get(m, default) for m in metrics}


def check_alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise UserError(f"alpha must lie in (0, 1), got {alpha}", field="--alpha", fix="e.g. --alpha 0.05")
    return alpha


@dataclass(frozen=True)
class CellRecord:
    """A cell result and a loader for its saved COCO predictions (None when it has none)."""

    result: dict[str, Any]
    predictions: Predictions | None = None

    @property
    def ok(self) -> bool:
        return self.result.get("status") == "ok"

    @property
    def seed(self) -> int:
        return int(self.result["cell"]["seed"])


def gt_digest(gt: dict[str, Any]) -> str:
    """Content hash of a test ground truth (the same test frames give the same digest)."""
    return sha256_json(gt)


def decompress_json(blob: bytes) -> Any:
    return json.loads(zlib.decompress(blob))


@dataclass
class RunData:
    """What a comparison needs from one run: data identity, ground truth, directions, cells."""

    label: str
    manifest_hash: str | None
    gt: dict[str, Any] | None
    directions: dict[str, bool]
    cells: list[CellRecord]
    results: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def environment(self) -> dict[str, Any] | None:
        return (self.results.get("run") or {}).get("environment")

    @cached_property
    def gt_sha256(self) -> str | None:
        return None if self.gt is None else gt_digest(self.gt)

    @classmethod
    def from_dir(cls, run_dir: str | Path) -> RunData:
        """Read a run folder: results.json, test_gt.json and each cell's predictions file."""
        root = Path(run_dir)
        results = load_results(root)
        run = results.get("run") or {}
        gt = read_json_file(root / "test_gt.json")
        cells = [CellRecord(c, _file_loader(root, c)) for c in run_cells(root, results)]
        return cls(label=str(run.get("name") or root.name), manifest_hash=(run.get("data") or {}).get("manifest_hash"),
                   gt=gt, directions=dict(run.get("metric_directions") or {}), cells=cells, results=results)

    def by_setting(self) -> dict[Setting, dict[int, CellRecord]]:
        out: dict[Setting, dict[int, CellRecord]] = {}
        for rec in self.cells:
            out.setdefault(setting_of(rec.result), {})[rec.seed] = rec
        return out


def _file_loader(root: Path, cell: dict[str, Any]) -> Predictions | None:
    rel = (cell.get("artifacts") or {}).get("predictions")
    if not rel:
        return None
    path = root / rel

    def load() -> list[dict[str, Any]]:
        data = read_json_file(path)
        if not isinstance(data, list):
            raise FileNotFoundError(f"predictions missing or unreadable: {path}")
        return data

    return load


# --------------------------------------------------------------------------- scoring
def _low_iou(name: str) -> float:
    return int(name[2:]) / 100


def size_ranges_of(cell: dict[str, Any]) -> dict[str, tuple[str, float, float]]:
    """The size ranges a cell was scored with (results schema 2), as CocoEval takes them."""
    sizes = (cell.get("metrics") or {}).get("sizes") or {}
    out = {}
    for name, r in (sizes.get("ranges") or {}).items():
        lo, hi = r["bounds"]
        out[name] = (sizes["measure"], float(lo), OPEN_END if hi is None else float(hi))
    return out


class Scorer:
    """One cell's predictions, matched once; scores any metric on any multiset of test frames.

    ``size_ranges`` (see size_ranges_of) score metrics such as ``mAP50@hairline``; both sides of a
    comparison use the same ranges.
    """

    def __init__(self, gt: dict[str, Any], predictions: list[dict[str, Any]], metrics: Sequence[str],
                 size_ranges: dict[str, tuple[str, float, float]] | None = None):
        bases = {m.partition("@")[0] for m in metrics}
        ranges = size_ranges if any("@" in m for m in metrics) else None
        lows = sorted({_low_iou(m) for m in bases if m not in COCO_STATS})
        self.std = CocoEval.from_coco(gt, predictions, size_ranges=ranges) if bases & set(COCO_STATS) else None
        self.low = CocoEval.from_coco(gt, predictions, iou_thresholds=lows, size_ranges=ranges) if lows else None

    def __call__(self, metric: str, sample: np.ndarray | None = None) -> float:
        base, _, size = metric.partition("@")
        if size:
            ev, iou = (self.std, {"mAP50_95": None, "mAP50": 0.5, "mAP75": 0.75}[base]) if base in COCO_STATS \
                else (self.low, _low_iou(base))
            return float(ev.aps([(iou, size)], sample)[0])  # type: ignore[union-attr]
        if metric in COCO_STATS:
            return self.std.stat(COCO_STATS[metric], sample)  # type: ignore[union-attr]
        return self.low.ap_at(_low_iou(metric), sample)  # type: ignore[union-attr]

    @property
    def image_ids(self) -> list[Any]:
        return (self.std or self.low).image_ids  # type: ignore[union-attr]


def frame_groups(gt: dict[str, Any], image_ids: Sequence[Any]) -> list[str]:
    """The resampling group of each image, in evaluation order (test_gt.json lists one per image)."""
    groups = gt.get("groups")
    if not isinstance(groups, list) or len(groups) != len(gt["images"]):
        return [str(i) for i in image_ids]  # no groups recorded: frames resample individually
    by_id = {im["id"]: str(g) for im, g in zip(gt["images"], groups, strict=True)}
    return [by_id[i] for i in image_ids]


@dataclass(frozen=True)
class PairedResult:
    a: float
    b: float
    delta: float
    ci: tuple[float, float]
    p: float
    n_boot: int  # resamples where the metric was defined on both sides


def paired_bootstrap(a: dict[int, Scorer], b: dict[int, Scorer], metrics: Sequence[str], groups: Sequence[str],
                     *, n_boot: int, alpha: float, seed: int) -> dict[str, PairedResult]:
    """Hierarchical paired bootstrap (seeds, then frame groups) of mean(B − A), per metric."""
    seeds = sorted(a)
    # Separate streams: the frame draws do not depend on how many seeds there are.
    seed_rng, frame_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    obs = {m: [(a[s](m), b[s](m)) for s in seeds] for m in metrics}
    deltas: dict[str, list[float]] = {m: [] for m in metrics}
    for sample in iter_bootstrap_samples(groups, len(groups), n_boot, frame_rng):
        # One seed cannot be resampled; with several, seed-to-seed variation is part of the noise.
        drawn = seed_rng.choice(seeds, size=len(seeds)).tolist() if len(seeds) > 1 else seeds
        for m in metrics:
            per_seed = {s: (a[s](m, sample), b[s](m, sample)) for s in set(drawn)}
            vals = [per_seed[s] for s in drawn]
            # COCO gives -1 when a resample holds no ground truth box: the metric is undefined there.
            if all(np.isfinite(x) and x >= 0 and np.isfinite(y) and y >= 0 for x, y in vals):
                deltas[m].append(float(np.mean([y - x for x, y in vals])))
    out = {}
    for m in metrics:
        d = np.asarray(deltas[m])
        av, bv = float(np.mean([x for x, _ in obs[m]])), float(np.mean([y for _, y in obs[m]]))
        if d.size == 0:
            out[m] = PairedResult(av, bv, bv - av, (float("nan"), float("nan")), float("nan"), 0)
            continue
        lo, hi = np.percentile(d, [50 * alpha, 100 - 50 * alpha])
        tail = min(np.count_nonzero(d <= 0), np.count_nonzero(d >= 0))
        p = min(1.0, 2 * (tail + 1) / (d.size + 1))
        out[m] = PairedResult(av, bv, bv - av, (float(lo), float(hi)), p, int(d.size))
    return out


# --------------------------------------------------------------------------- comparison
@dataclass
class Row:
    """One (setting, metric) line of a comparison."""

    detector: str
    generator: str | None
    guidance: float | None
    ratio: float
    metric: str
    state: str
    seeds: list[int] = field(default_factory=list)
    a: float | None = None
    b: float | None = None
    delta: float | None = None
    ci: tuple[float, float] | None = None
    p: float | None = None
    tolerance: float | None = None
    reference: str = ""
    note: str = ""

    @property
    def setting(self) -> Setting:
        return self.detector, self.generator, self.guidance, self.ratio

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ci"] = None if self.ci is None else [finite_or_none(self.ci[0]), finite_or_none(self.ci[1])]
        for k in ("a", "b", "delta", "p"):
            d[k] = finite_or_none(d[k])
        return d


@dataclass
class Comparison:
    rows: list[Row]
    alpha: float
    n_boot: int
    tolerances: dict[str, float]
    # reference label -> one line per package version that differs from the compared run's environment
    environment: dict[str, list[str]] = field(default_factory=dict)

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.state in REGRESSION_STATES]

    @property
    def comparable(self) -> bool:
        return any(r.state != NOT_COMPARABLE for r in self.rows)

    def counts(self) -> dict[str, int]:
        return {s: n for s in STATES if (n := sum(r.state == s for r in self.rows))}

    def to_dict(self) -> dict[str, Any]:
        return {"statistic": "paired bootstrap over seeds and test-frame groups", "alpha": self.alpha,
                "n_boot": self.n_boot, "tolerances": self.tolerances, "counts": self.counts(),
                "regression": bool(self.regressions), "environment_differences": self.environment,
                "rows": [r.to_dict() for r in self.rows]}


def _changes(a: dict[int, CellRecord], b: dict[int, CellRecord]) -> list[str]:
    """What differs in the plugins between the two sides: shown, since it is usually the change tested."""
    ra, rb = next(iter(a.values())).result, next(iter(b.values())).result
    notes = []
    for part in ("detector", "generator"):
        pa, pb = ra.get(part) or {}, rb.get(part) or {}
        if pa.get("plugin") != pb.get("plugin") or pa.get("version") != pb.get("version"):
            notes.append(f"{part} {pa.get('plugin')}@{pa.get('version')} → {pb.get('plugin')}@{pb.get('version')}")
        elif pa.get("fingerprint") != pb.get("fingerprint"):
            notes.append(f"{part} fingerprint changed")
        elif pa.get("params") != pb.get("params"):
            notes.append(f"{part} params changed")
    return notes


def _state(improvement: float, tol: float, p: float, alpha: float) -> str:
    if not np.isfinite(improvement) or abs(improvement) <= tol:
        return SAME
    if not (np.isfinite(p) and p < alpha):
        return UNSURE
    return BETTER if improvement > 0 else WORSE


@dataclass
class Options:
    metrics: Sequence[str] = DEFAULT_METRICS
    tolerances: dict[str, float] = field(default_factory=dict)
    alpha: float = DEFAULT_ALPHA
    n_boot: int = DEFAULT_N_BOOT
    seed: int = 0

    def tolerance(self, metric: str) -> float:
        return self.tolerances.get(metric, DEFAULT_TOLERANCE)


def compare_setting(setting: Setting, a: dict[int, CellRecord], b: dict[int, CellRecord],
                    gt: dict[str, Any] | None, directions: dict[str, bool], opts: Options,
                    reference: str = "", not_comparable: str | None = None) -> list[Row]:
    """Compare one setting's seeds of A (reference) and B (new): one Row per metric."""
    det, gen, guid, ratio = setting

    def row(metric: str, state: str, note: str = "", **kw: Any) -> Row:
        return Row(det, gen, guid, ratio, metric, state, reference=reference, note=note,
                   tolerance=opts.tolerance(metric), **kw)

    if not_comparable:
        return [row(m, NOT_COMPARABLE, not_comparable) for m in opts.metrics]
    newly = sorted(s for s in b if s in a and a[s].ok and not b[s].ok)
    fixed = sorted(s for s in b if s in a and not a[s].ok and b[s].ok)
    paired = sorted(s for s in b if s in a and a[s].ok and b[s].ok)
    notes = _changes(a, b)
    if newly:
        notes.append(f"seed {', '.join(map(str, newly))} failed: {(b[newly[0]].result.get('error') or '')[:60]}")
    if fixed:
        notes.append(f"seed {', '.join(map(str, fixed))} fixed")
    stats, reason = {}, ""
    if paired:
        stats, reason = paired_stats(a, b, paired, gt, opts)
    elif not (newly or fixed):
        reason = "no seed ok on both sides" if set(a) & set(b) else "no common seed"
    rows = []
    for m in opts.metrics:
        res = stats.get(m)
        note = "; ".join([*notes, reason] if reason else notes)
        if res is None:
            state = NEWLY_FAILING if newly else FIXED if fixed else NOT_COMPARABLE
            rows.append(row(m, state, note, seeds=paired))
            continue
        higher = directions.get(m, True)
        base = _state(res.delta if higher else -res.delta, opts.tolerance(m), res.p, opts.alpha)
        # A status change outranks the statistics; a significant drop outranks a fix.
        state = NEWLY_FAILING if newly else base if base == WORSE else FIXED if fixed else base
        rows.append(row(m, state, note, seeds=paired, a=res.a, b=res.b, delta=res.delta, ci=res.ci, p=res.p))
    return rows


def paired_stats(a: dict[int, CellRecord], b: dict[int, CellRecord], seeds: list[int],
                  gt: dict[str, Any] | None, opts: Options) -> tuple[dict[str, PairedResult], str]:
    if gt is None:
        return {}, "test ground truth missing (test_gt.json)"
    try:
        ranges = size_ranges_of(a[seeds[0]].result) if seeds else {}
        sa = {s: Scorer(gt, a[s].predictions(), opts.metrics, ranges) for s in seeds if a[s].predictions}
        sb = {s: Scorer(gt, b[s].predictions(), opts.metrics, ranges) for s in seeds if b[s].predictions}
    except (OSError, ValueError, KeyError, zlib.error) as exc:
        return {}, f"predictions unreadable: {str(exc).splitlines()[0][:80]}"
    if len(sa) != len(seeds) or len(sb) != len(seeds):
        return {}, "saved predictions missing"
    groups = frame_groups(gt, next(iter(sa.values())).image_ids)
    return paired_bootstrap(sa, sb, opts.metrics, groups, n_boot=opts.n_boot, alpha=opts.alpha,
                            seed=opts.seed), ""


def compare_runs(a: RunData, b: RunData, opts: Options) -> Comparison:
    """Every setting of A and B, paired by (detector, generator, guidance, ratio) and seed."""
    reason = None
    if a.manifest_hash != b.manifest_hash:
        reason = f"different data or split (manifest {str(a.manifest_hash)[:10]} vs {str(b.manifest_hash)[:10]})"
    elif a.gt is not None and b.gt is not None and a.gt_sha256 != b.gt_sha256:
        reason = "different test ground truth"
    sa, sb = a.by_setting(), b.by_setting()
    rows: list[Row] = []
    for setting in [*sa, *(s for s in sb if s not in sa)]:
        if setting not in sb or setting not in sa:
            only = f"only in {'A' if setting in sa else 'B'}"
            rows += compare_setting(setting, {}, {}, None, {}, opts, a.label, not_comparable=only)
            continue
        rows += compare_setting(setting, sa[setting], sb[setting], a.gt if a.gt is not None else b.gt,
                                {**a.directions, **b.directions}, opts, a.label, not_comparable=reason)
    env = environment_differences(a.environment, b.environment)
    return Comparison(rows, opts.alpha, opts.n_boot, {m: opts.tolerance(m) for m in opts.metrics},
                      environment={a.label: env} if env else {})


# --------------------------------------------------------------------------- seeds summary
@dataclass(frozen=True)
class SeedStat:
    """Mean over seeds with a 1 − α interval: Student t over seeds, or the cell's own CI for one seed."""

    mean: float
    lo: float
    hi: float
    n: int


def seed_stat(cells: Sequence[dict[str, Any]], metric: str, alpha: float = DEFAULT_ALPHA) -> SeedStat | None:
    vals = [v for c in cells if c.get("status") == "ok"
            and defined(v := metric_value(c, metric))]
    if not vals:
        return None
    mean = float(np.mean(vals))
    if len(vals) == 1:
        # One seed: the only uncertainty we have is the grouped bootstrap over test frames.
        ci = next(((metric_entry(c, metric) or {}).get("ci") for c in cells
                   if c.get("status") == "ok"), None) or [None, None]
        lo, hi = (float(x) if x is not None else float("nan") for x in ci)
        return SeedStat(mean, lo, hi, 1)
    from scipy.stats import t  # scipy: heavy, off the start-up path

    half = float(t.ppf(1 - alpha / 2, len(vals) - 1) * np.std(vals, ddof=1) / np.sqrt(len(vals)))
    # Every result metric is a proportion: a few seeds give wide t intervals that must not leave [0, 1].
    return SeedStat(mean, max(0.0, mean - half), min(1.0, mean + half), len(vals))
