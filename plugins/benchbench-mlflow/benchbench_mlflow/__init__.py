"""benchbench-mlflow: an observer that logs each finished cell to MLflow, one MLflow run per cell.

The hook module imports no mlflow (``bench`` imports it at every start): the logger is imported
when the first cell finishes.
"""

from __future__ import annotations

import os

from benchbench.api import hookimpl

__version__ = "0.1.0"


@hookimpl
def benchbench_cell_finished(result):
    if os.environ.get("BENCHBENCH_MLFLOW", "").lower() in ("0", "off", "false", "no"):
        return
    from benchbench_mlflow.logger import log_cell

    log_cell(result)
