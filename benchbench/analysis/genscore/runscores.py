"""Generator scores of a run: the ``generator_scores`` section of results.json, from its generated sets
(read back from the frame cache by ``benchbench.pipeline.generated``) — at the end of ``bench run`` and by
``bench generators score RUN_DIR``. Plain inputs in, the section out: the caller stores it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchbench.analysis.genscore.predict import score_gains
from benchbench.analysis.genscore.quality import quality, real_recognised, recognised
from benchbench.analysis.genscore.score import SynthSet, score_sets
from benchbench.data.folds import Fold
from benchbench.errors import UserError, error_line
from benchbench.frames import FrameSet


def check_extractors(matrix: Any, file: str, plugins: Any) -> None:
    """`bench validate` / `bench run`: every ``scores.extractors`` entry exists and accepts its parameters,
    local weight paths included, before hours of training rather than after."""
    if not matrix.scores.enabled:
        return
    for i, ex in enumerate(matrix.scores.extractors):
        field = f"scores.extractors[{i}]"
        entry = plugins.registry("feature_extractors").get(ex.plugin or ex.name, field=field, file=file)
        try:
            entry.create(**dict(ex.model_extra or {}))
        except UserError as exc:
            raise UserError(exc.detail, file=file, field=field, fix=exc.fix) from None


def score_run(sets: dict[str, SynthSet], missing: list[str], folds: Sequence[Fold], spec: Any,
              cells: list[dict[str, Any]], run_dir: Path, plugins: Any, *, cache_root: Path,
              seed: int) -> dict[str, Any]:
    """The ``generator_scores`` section of a run's generated ``sets`` (``missing``: the ids of those whose
    frames the cache lacks), each scored against its fold's training and test frames (a set's fold is its
    ``meta["fold"]``; a plain split has the one fold None), with the closest-pairs grids and the
    score-vs-gain plots of its finished ``cells`` in ``run_dir``/genscore/.

    A plain split's section is as before folds. With folds, what is per fold (the extractors, fitted on
    the fold's training frames, the real-test reference row, the quality bar) is under ``folds``, and each
    set carries its ``fold``; ``sets``, ``flags``, ``notes`` and ``errors`` hold every fold's."""
    parts = []
    for fold in folds:
        mine = {k: v for k, v in sets.items() if v.meta.get("fold") == fold.index}
        part = score_sets(fold.train, fold.test, mine, spec, plugins, cache_root=cache_root, seed=seed,
                          grid_dir=Path(run_dir) / "genscore")
        for entry in part["sets"]:
            try:
                entry["recognised"] = recognised(mine[entry["id"]].frames.get("crack", FrameSet([])), entry, cells)
            except Exception as exc:  # e.g. a mask file removed since: the other scores stand
                part["errors"].append(f"{entry['id']}: recognised cracks: {error_line(exc)}")
        try:
            real_test = real_recognised(cells, run_dir, fold.index)
        except (OSError, ValueError) as exc:  # a damaged predictions file: the bar itself stands
            real_test = None
            part["errors"].append(f"real test frames: recognised cracks: {error_line(exc)}")
        # its bar is the fold's physics sets': FDs of other folds are not comparable
        part["quality"] = quality(part, real_test)
        parts.append(part)
    section = parts[0] if len(parts) == 1 else merge_folds(folds, parts)
    if missing:
        section["notes"].append(f"not scored, frames not in the cache: {', '.join(missing)} "
                                "(their generation failed or the cache was cleared; `bench run` regenerates them, "
                                "without refitting)")
    return score_gains(section, cells, spec, run_dir)


PER_FOLD = ("extractors", "reference", "quality")  # what a fold's part holds for itself; the rest is pooled


def merge_folds(folds: Sequence[Fold], parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One section from each fold's: its ``PER_FOLD`` entries under ``folds``, its sets, flags, notes and
    errors pooled (a set's id names its fold)."""
    section: dict[str, Any] = {"settings": parts[0]["settings"], "folds": [], "sets": [], "flags": [], "notes": [],
                               "errors": []}
    for fold, part in zip(folds, parts, strict=True):
        section["folds"].append({"fold": fold.index, "test_groups": fold.test_groups,
                                 **{k: part[k] for k in PER_FOLD if k in part}})
        for key in ("sets", "flags", "errors"):
            section[key] += part[key]
        section["notes"] += [f"fold {fold.index}: {n}" for n in part["notes"]]
    section["notes"].append("specimen folds: each fold's sets are scored against its own training frames, its "
                            "test specimens held out (the score tables are per fold)")
    return section
