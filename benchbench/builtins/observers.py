"""Built-in ``benchbench_cell_finished`` observer: submit each finished cell to the matrix's leaderboard.

Active only when the matrix names one (``leaderboard: results/leaderboard.sqlite``; a relative path
is relative to the directory ``bench run`` runs in). The runner calls each observer on its own and
turns an exception into a warning, so a locked or corrupt leaderboard never fails or loses a cell;
``bench leaderboard submit RUN_DIR`` can record the run afterwards (it adds only what is missing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchbench.hookspecs import hookimpl


@hookimpl
def benchbench_cell_finished(result: dict[str, Any]) -> None:
    run = result.get("run") or {}
    if not run.get("leaderboard") or not run.get("dir"):
        return
    from benchbench.analysis.leaderboard import submit_cell  # sqlite and stats: off start-up (a hook module)

    submit_cell(Path(run["leaderboard"]), Path(run["dir"]), result)
