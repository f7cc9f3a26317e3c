"""A prepared run's generated sets read back from the frame cache (nothing is generated): what the
generator scores score (``benchbench.analysis.genscore.runscores``), and the generation tasks `bench run` runs
again when the cache lacks their frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchbench.analysis.genscore.runscores import score_run
from benchbench.analysis.genscore.score import SynthSet
from benchbench.frames import FrameSet
from benchbench.hashing import sha256_json
from benchbench.records.cache import Cache, frame_key


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


def prepared_scores(p: Any, cache: Cache, cells: list[dict[str, Any]], run_dir: Path, plugins: Any) -> dict[str, Any]:
    """The ``generator_scores`` section of a prepared run: its sets in the cache, scored against its first fold."""
    sets, missing = run_sets(p, cache)
    return score_run(sets, missing, p.folds[0], p.matrix.scores, cells, run_dir, plugins,
                     cache_root=Path(cache.root), seed=p.matrix.seed[0])
