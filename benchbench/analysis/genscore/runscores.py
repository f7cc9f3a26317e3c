"""Generator scores of a run: the ``generator_scores`` section of results.json, from its generated sets
(read back from the frame cache by ``benchbench.pipeline.generated``) — at the end of ``bench run`` and by
``bench generators score RUN_DIR``. Plain inputs in, the section out: the caller stores it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchbench.analysis.genscore.predict import score_gains
from benchbench.analysis.genscore.quality import quality, recognised
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


def score_run(sets: dict[str, SynthSet], missing: list[str], fold: Fold, spec: Any, cells: list[dict[str, Any]],
              run_dir: Path, plugins: Any, *, cache_root: Path, seed: int) -> dict[str, Any]:
    """The ``generator_scores`` section of a run's generated ``sets`` (``missing``: the ids of those whose
    frames the cache lacks), scored against ``fold``'s training and test frames, with the closest-pairs
    grids and the score-vs-gain plots of its finished ``cells`` in ``run_dir``/genscore/."""
    section = score_sets(fold.train, fold.test, sets, spec, plugins, cache_root=cache_root, seed=seed,
                         grid_dir=Path(run_dir) / "genscore")
    if fold.index is not None:
        section["notes"].append(f"specimen folds: the sets of fold {fold.index} are scored, against its "
                                f"training frames (test specimens {', '.join(fold.test_groups)})")
    for entry in section["sets"]:
        try:
            entry["recognised"] = recognised(sets[entry["id"]].frames.get("crack", FrameSet([])), entry, cells)
        except Exception as exc:  # e.g. a mask file removed since: the other scores stand
            section["errors"].append(f"{entry['id']}: recognised cracks: {error_line(exc)}")
    section["quality"] = quality(section)
    if missing:
        section["notes"].append(f"not scored, frames not in the cache: {', '.join(missing)} "
                                "(their generation failed or the cache was cleared; `bench run` regenerates them, "
                                "without refitting)")
    return score_gains(section, cells, spec, run_dir)
