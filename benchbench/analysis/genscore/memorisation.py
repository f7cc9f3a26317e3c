"""Memorisation and leakage: how close each synthetic frame lies to a real training or *test* frame.

Distances are Euclidean, in pixel space (grey thumbnails) and in each extractor's feature space.
They are judged against a real yardstick, ``scale``: the median distance from a held-out test frame
to its nearest training frame, i.e. how far a genuinely new specimen lies. A synthetic frame is a
near-copy of a reference set when its nearest-neighbour distance is below ``near_copy × scale``
(exact copies have distance 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial.distance import cdist

CHUNK = 512  # rows of the distance matrix at a time: bounds memory for large sets


def nearest(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``a``: the distance to, and index of, its nearest row of ``b``."""
    dist = np.empty(len(a))
    idx = np.empty(len(a), dtype=np.int64)
    for lo in range(0, len(a), CHUNK):
        d = cdist(a[lo:lo + CHUNK], b)
        idx[lo:lo + CHUNK] = d.argmin(1)
        dist[lo:lo + CHUNK] = d[np.arange(len(d)), idx[lo:lo + CHUNK]]
    return dist, idx


def real_scale(train: np.ndarray, test: np.ndarray) -> float:
    return float(np.median(nearest(test, train)[0]))


def memorisation(syn: np.ndarray, train: np.ndarray, test: np.ndarray, near_copy: float,
                 scale: float | None = None) -> dict[str, Any]:
    """Nearest-neighbour distances of synthetic rows to real train and test rows, and near-copy counts.

    Returns JSON-able figures plus ``_pairs`` (numpy, for the closest-pairs grid; dropped before saving).
    """
    scale = real_scale(train, test) if scale is None else scale
    limit = near_copy * scale
    out: dict[str, Any] = {"scale": scale, "threshold": limit, "n": int(len(syn))}
    pairs = {}
    for side, ref in (("train", train), ("test", test)):
        d, i = nearest(syn, ref)
        near = d <= limit if limit > 0 else d == 0
        out[side] = {"min": float(d.min()), "median": float(np.median(d)),
                     "median_ratio": float(np.median(d) / scale) if scale > 0 else None,
                     "near_copies": int(near.sum()), "share": float(near.mean()),
                     "exact_copies": int((d == 0).sum())}
        pairs[side] = (d, i)
    out["_pairs"] = pairs
    return out
