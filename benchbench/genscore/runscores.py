"""Generator scores of a run: its generated sets read back from the frame cache, scored, and the
``generator_scores`` section added to results.json — at the end of ``bench run`` and by
``bench generators score RUN_DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchbench.cache import Cache, frame_key
from benchbench.errors import error_line
from benchbench.frames import FrameSet
from benchbench.genscore.score import SynthSet, score_sets
from benchbench.hashing import sha256_json


def check_extractors(matrix: Any, file: str, plugins: Any) -> None:
    """`bench validate` / `bench run`: every ``scores.extractors`` entry exists and accepts its parameters,
    local weight paths included, before hours of training rather than after."""
    from benchbench.errors import UserError

    if not matrix.scores.enabled:
        return
    for i, ex in enumerate(matrix.scores.extractors):
        field = f"scores.extractors[{i}]"
        entry = plugins.registry("feature_extractors").get(ex.plugin or ex.name, field=field, file=file)
        try:
            entry.create(**dict(ex.model_extra or {}))
        except UserError as exc:
            raise UserError(exc.detail, file=file, field=field, fix=exc.fix) from None


def _task_keys(p: Any, task: Any) -> dict[str, list[str]]:
    """The cache keys of a generation task's frames, per label."""
    gid, size = p.gen_id(task.generator, task.fold), p.fold(task.fold).frame_size
    return {label: [frame_key(gid, label, task.guidance, task.seed, i, size) for i in range(n)]
            for label, n in (("crack", task.n_pos), ("sane", task.n_neg))}


def scored_tasks(p: Any) -> list[Any]:
    """The generation tasks scored: with specimen folds, the first fold's (scored against its training and
    test frames: ``p.train`` / ``p.test``), else all."""
    return [t for t in p.plan.gen_tasks if t.fold == p.folds[0].index]


def unscored_tasks(p: Any, cache: Cache, scheduled: set[str]) -> set[str]:
    """Generation tasks of a prepared run, besides the ``scheduled`` ones, whose frames the cache lacks:
    ``bench run`` regenerates them for the scores even when every cell is done (generation only, never a fit)."""
    if not p.matrix.scores.enabled:
        return set()
    return {t.id for t in scored_tasks(p) if t.n and t.id not in scheduled
            and not all(cache.has_frame(k) for keys in _task_keys(p, t).values() for k in keys)}


def run_sets(p: Any, cache: Cache) -> tuple[dict[str, SynthSet], list[str]]:
    """The planned generated sets of a prepared run found in the cache (nothing is generated), and the
    ids of those with frames missing."""
    sets, missing = {}, []
    for task in scored_tasks(p):
        if task.n == 0:
            continue
        frames, keys = {}, {}
        for label, ks in _task_keys(p, task).items():
            got = [cache.get_frame(k) for k in ks]
            if any(f is None for f in got):
                missing.append(task.id)
                break
            frames[label], keys[label] = FrameSet(got, task.id), sha256_json(ks)
        else:
            gid = p.gen_id(task.generator, task.fold)
            sets[task.id] = SynthSet(frames, keys, {"generator": task.generator, "guidance": task.guidance,
                                                    "seed": task.seed, "plugin": gid["plugin"],
                                                    "fingerprint": gid["fingerprint"]})
    return sets, missing


def score_run(p: Any, cache: Cache, cells: list[dict[str, Any]], run_dir: Path, plugins: Any) -> dict[str, Any]:
    """The ``generator_scores`` section of a prepared run, with the closest-pairs grids and
    the score-vs-gain plots in genscore/."""
    spec = p.matrix.scores
    sets, missing = run_sets(p, cache)
    section = score_sets(p.train, p.test, sets, spec, plugins, cache_root=Path(cache.root), seed=p.matrix.seed[0],
                         grid_dir=Path(run_dir) / "genscore")
    if p.folds[0].index is not None:
        section["notes"].append(f"specimen folds: the sets of fold {p.folds[0].index} are scored, against its "
                                f"training frames (test specimens {', '.join(p.folds[0].test_groups)})")
    from benchbench.genscore.quality import quality, recognised

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


def score_gains(section: dict[str, Any], cells: list[dict[str, Any]], spec: Any, run_dir: Path) -> dict[str, Any]:
    """``section`` with its ``gain`` (scores vs the cells' metric gains) and the score-vs-gain plots made
    from ``cells``: at the end of a run, and again when `bench rescore` changed the cells' metrics."""
    from benchbench.genscore.predict import score_gain

    section["gain"] = score_gain(cells, section, spec.gain_metrics, spec.bootstrap)
    try:
        from benchbench.genscore.plots import gain_plots

        section["plots"] = [str(q.relative_to(run_dir)) for q in gain_plots(section, Path(run_dir) / "genscore")]
    except Exception as exc:  # a picture must never cost the scores
        section.setdefault("errors", []).append(f"score-vs-gain plots not written: {type(exc).__name__}: {exc}")
    return section


def attach_scores(runner: Any, results: dict[str, Any]) -> dict[str, Any]:
    """End of ``bench run``: add ``generator_scores`` to results.json. Never raises: a scoring failure is
    reported as a warning and costs no finished result."""
    if not runner.p.matrix.scores.enabled or not runner.p.plan.gen_tasks:
        return results
    try:
        results["generator_scores"] = score_run(runner.p, runner.cache, results["cells"], runner.store.root,
                                                runner.plugins)
        runner.store.write_results(results)
    except Exception as exc:
        runner.observer_errors.append(f"generator scores not computed: {error_line(exc)}")
    return results
