"""The ids of a run's cells and generated sets.

They name the run folder's files (``cells/<id>.json``, ``work/<id>/``) and the cache's, and the
analysis rebuilds them from cell records (a synthetic cell's generated set), so they live here,
below both the planner that makes them and the readers that match them.
"""

from __future__ import annotations


def number(x: float | None) -> str:
    """A ratio or guidance in an id: as ``:g`` writes it, ``-`` for none."""
    if x is None:
        return "-"
    return f"{x:g}"


def fold_suffix(fold: int | None) -> str:
    """What a fold adds to a cell or generation-task id (nothing for a plain split)."""
    return "" if fold is None else f"__f{fold}"


def gen_task_id(generator: str, guidance: float | None, seed: int, fold: int | None = None) -> str:
    """The id of the frames one (generator, guidance, seed) made for a fold."""
    return f"{generator}__g{number(guidance)}__s{seed}{fold_suffix(fold)}"


def cell_id(detector: str, generator: str | None, guidance: float | None, ratio: float, seed: int,
            budget: str, fold: int | None) -> str:
    steps = "__bsteps" if budget == "steps" else ""
    return (f"{detector}__{generator or 'real'}__g{number(guidance)}__r{number(ratio)}__s{seed}{steps}"
            f"{fold_suffix(fold)}")
