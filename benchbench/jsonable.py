"""Numbers as JSON holds them: a NaN or infinite metric is ``null``, never an invalid ``NaN`` token."""

from __future__ import annotations

import numpy as np


def finite_or_none(x: float | None) -> float | None:
    """``x`` as a Python float, or None when it is None, NaN or infinite."""
    return None if x is None or not np.isfinite(x) else float(x)
