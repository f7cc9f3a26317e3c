"""One seed for every random generator a cell touches."""

from __future__ import annotations

import random
import sys

import numpy as np


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (when a plugin has imported it), for bit-identical CPU reruns.

    Never imports torch itself: core runs without it, and importing it costs seconds.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
