"""Matrix -> cells, the nested generation plan, and what each cell waits for.

A cell is (detector, seed, ratio, generator, guidance). Ratio 0 is the real-only
baseline: one cell per (detector, seed), shared by every generator and guidance.
For each (generator, guidance, seed) frames are generated once for the largest
ratio; a cell at ratio r takes the first frames of each class, so the cost grows
with max(ratio), not with the number of ratios. With the teacher labeler, frames of a
generator that gives no boxes are labelled by the real-only baseline of the cell's
(detector, seed): the plan adds ratio 0 where the matrix leaves it out, and says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from benchbench.errors import UserError
from benchbench.method.matrix import Matrix
from benchbench.records.ids import cell_id, gen_task_id

MAX_PLANNED_FRAMES = 1_000_000  # synthetic frames one run may generate (docs/matrix.md "Bounds")


@dataclass(frozen=True)
class GenTask:
    generator: str
    guidance: float | None
    seed: int
    n_pos: int
    n_neg: int
    fold: int | None = None  # None: frames of a plain split (or shared by every fold)

    @property
    def id(self) -> str:
        return gen_task_id(self.generator, self.guidance, self.seed, self.fold)

    @property
    def n(self) -> int:
        return self.n_pos + self.n_neg


@dataclass(frozen=True)
class Cell:
    detector: str
    seed: int
    ratio: float = 0.0
    generator: str | None = None
    guidance: float | None = None
    n_syn_pos: int = 0
    n_syn_neg: int = 0
    n_real_pos: int = 0
    n_real_neg: int = 0
    budget: str = "epochs"  # "steps": train as many steps as the row's largest-ratio cell
    budget_frames: int | None = None  # with "steps": the training-set size that sets the step count
    fold: int | None = None  # split.folds: the fold whose specimens it trains on and tests; None: a plain split

    @property
    def baseline(self) -> bool:
        return self.ratio == 0 and self.budget == "epochs"

    @property
    def id(self) -> str:
        return cell_id(self.detector, self.generator, self.guidance, self.ratio, self.seed, self.budget, self.fold)

    @property
    def gen_task_id(self) -> str | None:
        if self.generator is None:
            return None
        return gen_task_id(self.generator, self.guidance, self.seed, self.fold)

    @property
    def baseline_id(self) -> str:
        return Cell(self.detector, self.seed, fold=self.fold).id

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self) | {"id": self.id}
        if self.fold is None:  # a plain split's cells keep the dict (and so the cache key) they had before folds
            del d["fold"]
        return d


def synthetic_counts(ratio: float, n_pos: int, n_neg: int, mode: str,
                     positive_fraction: float | None) -> tuple[int, int, int, int]:
    """(synthetic pos, synthetic neg, real pos kept, real neg kept) for one ratio.

    Both synthetic counts are non-decreasing in ``ratio`` so smaller ratios take prefixes.
    """
    n_train = n_pos + n_neg
    n_syn = round(ratio * n_train)
    pf = positive_fraction if positive_fraction is not None else (n_pos / n_train if n_train else 0.0)
    syn_pos = round(n_syn * pf)
    syn_neg = n_syn - syn_pos
    if mode == "replace":
        return syn_pos, syn_neg, max(0, n_pos - syn_pos), max(0, n_neg - syn_neg)
    if mode == "tstr" and ratio > 0:
        # Train on synthetic, test on real: replace at ratio 1 keeps real frames of a class whenever
        # positive_fraction differs from the real balance, so TSTR drops every real training frame.
        return syn_pos, syn_neg, 0, 0
    return syn_pos, syn_neg, n_pos, n_neg


@dataclass
class Plan:
    cells: list[Cell]
    gen_tasks: list[GenTask]
    n_train_pos: int  # with folds: the first fold's (each fold has its own)
    n_train_neg: int
    naive_frames: int = 0
    notes: list[str] = field(default_factory=list)
    gives_boxes: dict[str, bool] = field(default_factory=dict)  # generator row -> its frames carry boxes
    # generator row -> its labeler kind (the row's own or the matrix's); "mask": boxes from each frame's
    # crack mask, no teacher
    labelers: dict[str, str] = field(default_factory=dict)

    @property
    def planned_frames(self) -> int:
        return sum(t.n for t in self.gen_tasks)

    def labeler_kind(self, generator: str) -> str:
        return self.labelers.get(generator, "teacher")

    def teacher_of(self, cell: Cell) -> str | None:
        """The id of the baseline whose model labels this cell's synthetic cracked frames, if any."""
        if cell.generator is None or self.labeler_kind(cell.generator) == "mask" \
                or self.gives_boxes.get(cell.generator, True):
            return None
        return cell.baseline_id

    def needs(self, cell: Cell) -> list[str]:
        """The units that must end before the cell can train: its generation task and, when its frames
        are teacher-labelled, those labels (which need its own baseline). Never the other baselines."""
        if cell.gen_task_id is None:
            return []
        teacher = self.teacher_of(cell)
        return [gen_unit(cell.gen_task_id)] + ([label_id(teacher, cell.gen_task_id)] if teacher else [])


# Units of work, as the jobs of a run name each other: one namespace for cells, generation and labels.
def cell_unit(cell_id: str) -> str:
    return f"cell:{cell_id}"


def gen_unit(gen_task_id: str) -> str:
    return f"gen:{gen_task_id}"


def label_id(baseline_id: str, gen_task_id: str) -> str:
    """The teacher labels of one generation task by one baseline's model (they need both)."""
    return f"label:{baseline_id}:{gen_task_id}"


def _step_twins(cells: list[Cell], detector: str, seed: int) -> list[Cell]:
    """Equal-steps copies of one (detector, seed)'s cells that train on fewer frames than its largest one."""
    own = [c for c in cells if c.detector == detector and c.seed == seed]
    if not own:
        return []
    size = {c.id: c.n_syn_pos + c.n_syn_neg + c.n_real_pos + c.n_real_neg for c in own}
    ref = max(size.values())
    return [replace(c, budget="steps", budget_frames=ref) for c in own if size[c.id] < ref]


def make_plan(matrix: Matrix, uses_guidance: dict[str, bool], n_train_pos: int, n_train_neg: int,
              step_budget: dict[str, bool] | None = None, *, gives_boxes: dict[str, bool] | None = None,
              file: str | None = None) -> Plan:
    """The cells and generation tasks of ``matrix``.

    ``uses_guidance[g]`` / ``gives_boxes[g]``: the generator rows' registered metadata (missing: True).
    A generator without boxes needs ``labeler: teacher`` and, for each detector training with it, that
    detector's ratio-0 baseline; the plan adds ratio 0 when the axis leaves it out.
    ``step_budget[detector]`` says whether that detector trains by steps (an epoch count it can scale);
    detectors that do not (``classic``) get no equal-steps copies: both budgets are the same for them.
    ``file`` names the matrix in errors.
    """
    gives_boxes = {g.name: (gives_boxes or {}).get(g.name, True) for g in matrix.generators}
    used = matrix.used_generators()
    labelers = {g.name: matrix.labeler_of(g.name).kind for g in matrix.generators}
    taught = _check_labeler(matrix, labelers, gives_boxes, used, file)
    axis = list(matrix.axes.synthetic_ratio)
    if taught and 0 not in axis:
        axis = [0.0, *axis]
    counts = {r: synthetic_counts(r, n_train_pos, n_train_neg, matrix.mode, matrix.positive_fraction)
              for r in axis}
    cells: list[Cell] = []
    tasks: list[GenTask] = []
    naive = 0
    for seed in matrix.seed:
        detectors = [d for d in matrix.detectors if seed in matrix.seeds_of(d)]
        for det in detectors:
            if 0 in counts and matrix.runs_ratio(det, 0.0):
                _, _, rp, rn = counts[0]
                cells.append(Cell(det.name, seed, 0.0, n_real_pos=rp, n_real_neg=rn))
        for gen in (g for g in matrix.generators if seed in matrix.seeds_of(g)):
            guidances: list[float | None] = list(matrix.axes.guidance) if uses_guidance.get(gen.name, True) \
                else [None]
            users = [d for d in detectors if matrix.trains_with(d, gen.name)]
            ratios = [r for r in matrix.synthetic_ratios if any(matrix.runs_ratio(d, r) for d in users)]
            for g in guidances:
                if ratios:  # sized for the largest ratio in use; smaller ratios take prefixes
                    sp, sn, _, _ = counts[max(ratios)]
                    tasks.append(GenTask(gen.name, g, seed, sp, sn))
                for r in ratios:
                    sp, sn, rp, rn = counts[r]
                    naive += sp + sn
                    for det in (d for d in users if matrix.runs_ratio(d, r)):
                        cells.append(Cell(det.name, seed, r, gen.name, g, sp, sn, rp, rn))
    planned = sum(t.n for t in tasks)
    if planned > MAX_PLANNED_FRAMES:
        raise UserError(f"the plan generates {planned} synthetic frames, over the {MAX_PLANNED_FRAMES} a run may "
                        "generate", file=file, field="axes.synthetic_ratio",
                        fix="use smaller ratios, fewer seeds or guidance scales, or several matrices")
    budgets = matrix.axes.budget
    if "steps" in budgets:
        step_budget = step_budget or {}
        twins = [t for seed in matrix.seed for d in matrix.detectors if step_budget.get(d.name, True)
                 for t in _step_twins(cells, d.name, seed)]
        if "epochs" not in budgets:  # the real-only epochs baseline stays: it is the teacher and costs least
            smaller = {t.id.removesuffix("__bsteps") for t in twins}
            cells = [c for c in cells if c.id not in smaller or c.baseline]
        cells += twins
    notes = []
    fixed = [d.name for d in matrix.detectors if "steps" in budgets and not (step_budget or {}).get(d.name, True)]
    if fixed:
        notes.append(f"{', '.join(fixed)} do(es) not train by steps: the same cells serve both budgets")
    if any(not uses_guidance.get(g.name, True) for g in matrix.generators) and len(matrix.axes.guidance) > 1:
        notes.append("generators that ignore guidance run once per (ratio, seed), shown as guidance '–'")
    if taught:
        notes.append("teacher labeler: ratio-0 baselines label the synthetic cracked frames")
    unused = [g.name for g in matrix.generators if g.name not in used]
    if unused and matrix.synthetic_ratios:
        notes.append(f"no detector row trains with generator(s) {', '.join(unused)}: they are skipped")
    masked = [g for g in matrix.generators if g.name in used and labelers[g.name] == "mask"]
    if masked and matrix.synthetic_ratios:
        notes.append("mask labeler: synthetic cracked frames" + ("" if len(masked) == len(used) else " of "
                     + ", ".join(g.name for g in masked)) + " train with the boxes of their own crack masks")
    return Plan(cells, tasks, n_train_pos, n_train_neg, naive_frames=naive, notes=notes, gives_boxes=gives_boxes,
                labelers=labelers)


def plan_folds(matrix: Matrix, uses_guidance: dict[str, bool], folds: list[tuple[int | None, int, int]],
               step_budget: dict[str, bool] | None = None, *, gives_boxes: dict[str, bool] | None = None,
               file: str | None = None) -> Plan:
    """The plan of every fold, ``folds`` being (fold, training cracked frames, training sane frames).

    A plain split (one fold, None) is planned by ``make_plan`` as before. With folds each fold is planned on
    its own training counts and its cells and generation tasks carry the fold, so its baselines (the
    teacher), equal-steps references and generated frames are its own. Every generator generates per
    fold, even one that learns from no frame: its frames then differ between folds only by the size
    asked (the fold's median training crop), and where that size is the same the frame cache, keyed by
    generator, calibration, size and index, hands the later folds the frames the first one made.
    """
    plans = [(f, make_plan(matrix, uses_guidance, pos, neg, step_budget, gives_boxes=gives_boxes, file=file))
             for f, pos, neg in folds]
    if len(plans) == 1 and plans[0][0] is None:
        return plans[0][1]
    first = plans[0][1]
    return Plan([replace(c, fold=f) for f, p in plans for c in p.cells],
                [replace(t, fold=f) for f, p in plans for t in p.gen_tasks],
                first.n_train_pos, first.n_train_neg, naive_frames=sum(p.naive_frames for _, p in plans),
                notes=first.notes + [f"{len(plans)} specimen folds: every cell is planned once per fold"],
                gives_boxes=first.gives_boxes, labelers=first.labelers)


def _check_labeler(matrix: Matrix, kinds: dict[str, str], gives_boxes: dict[str, bool], used: set[str],
                   file: str | None) -> bool:
    """Whether some used generator's frames need teacher labels; a user error where they cannot get them.
    Masks are checked as frames arrive (a frame without one fails its cells)."""
    if not matrix.synthetic_ratios:
        return False
    for i, g in enumerate(matrix.generators):
        if kinds[g.name] == "generator" and not gives_boxes[g.name]:
            own = g.labeler is not None
            raise UserError(f"generator '{g.name}' gives no boxes", file=file,
                            field=f"generators[{i}].labeler" if own else "labeler",
                            fix="use labeler: teacher" + ("" if own else " (or give the row its own labeler)"))
    teacher = {g for g in used if kinds[g] == "teacher" and not gives_boxes[g]}
    for i, det in enumerate(matrix.detectors):
        taught = [g.name for g in matrix.generators if g.name in teacher and matrix.trains_with(det, g.name)]
        if taught and det.ratios is not None and 0 not in det.ratios:
            raise UserError(f"detector '{det.name}' trains with {', '.join(taught)} (no boxes), whose frames its "
                            "real-only model labels, but its ratios leave out 0", file=file,
                            field=f"detectors[{i}].ratios", fix="add 0 to its ratios")
    return bool(teacher)
