"""Specimen folds (matrix ``split: {folds: K}``): grouped K-fold over the specimens, and what is per fold.

One held-out pair of specimens makes a verdict about those two specimens. With folds every specimen
is a test specimen exactly once per setting: fold I tests its specimens with a detector (and its
teacher, its equal-steps reference, its generator weights and calibration) trained on the others.
A plain split is the single fold ``None``, so its cell ids and cache keys are those of before folds.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchbench.errors import UserError
from benchbench.frames import FrameSet
from benchbench.hashing import sha256_json


@dataclass
class Fold:
    """One fold's frames: ``index`` None for a plain (single) split."""

    index: int | None
    train: FrameSet
    val: FrameSet | None
    test: FrameSet

    @property
    def test_groups(self) -> list[str]:
        return self.test.groups()

    @functools.cached_property
    def frame_size(self) -> int:
        """The size generators are asked for: the median long side of the fold's real training frames."""
        sizes = [max(f.width, f.height) for f in self.train]
        return int(np.median(sizes)) if sizes else 128

    @functools.cached_property
    def manifest_hash(self) -> str:
        """The hash of the fold's frames (a plain split's is ``run.data.manifest_hash``, as before folds)."""
        return sha256_json({"train": self.train.manifest_hash(), "test": self.test.manifest_hash(),
                            "val": self.val.manifest_hash() if self.val else None})

    def describe(self) -> dict[str, Any]:
        """The fold as the run header lists it."""
        return {"fold": self.index, "test_groups": self.test_groups, "train_groups": self.train.groups(),
                "n_train": len(self.train), "n_val": len(self.val) if self.val else 0, "n_test": len(self.test)}


def fold_test_groups(frames: FrameSet, folds: int | str) -> list[list[str]]:
    """The test specimens of each fold: one fold per specimen for ``"loso"``, else scikit-learn's
    GroupKFold, which deals the specimens, largest first, to the fold with the fewest frames so far
    (deterministic: no shuffling), so the folds hold about as many frames each."""
    groups = sorted({f.group for f in frames})
    k = len(groups) if folds == "loso" else int(folds)
    if len(groups) < max(k, 2):
        raise UserError(f"folds: {folds} needs at least {max(k, 2)} specimens, the data have {len(groups)} "
                        f"({', '.join(groups)})", field="split.folds",
                        fix=f"use folds: {len(groups)} or fewer" if len(groups) >= 2
                        else "check split.group_regex: every frame is in one group")
    if folds == "loso":
        return [[g] for g in groups]
    from sklearn.model_selection import GroupKFold  # scikit-learn is a core dependency, heavy to import

    names = [f.group for f in frames]
    out = []
    for _, test_idx in GroupKFold(n_splits=k).split(np.zeros(len(names)), groups=names):
        out.append(sorted({names[i] for i in test_idx}))
    return out


def make_folds(frames: FrameSet, spec: Any, split_train: Any) -> list[Fold]:
    """Every fold of ``frames`` by ``spec.folds``; ``split_train(train)`` gives (train, val) inside a fold."""
    from benchbench.data.split import check_no_leakage  # a cycle: data.split builds on the folds

    out = []
    for i, test_groups in enumerate(fold_test_groups(frames, spec.folds)):
        chosen = set(test_groups)
        test = frames.filter(lambda f, c=chosen: f.group in c)
        train, val = split_train(frames.filter(lambda f, c=chosen: f.group not in c))
        check_no_leakage(train, test)
        if not len(test.positives()):
            raise UserError(f"fold {i} (test specimens {', '.join(test_groups)}) has no cracked frame",
                            field="split.folds", fix="use fewer folds, so that each fold holds a cracked specimen")
        out.append(Fold(i, train, val, test))
    return out


def fold_params(params: dict[str, Any], fold: int | None) -> dict[str, Any]:
    """A generator row's parameters for one fold: a ``weights`` list indexed by fold resolved to that fold's
    folder, and ``{fold}`` in any string parameter (``weights``, an SD row's ``negative`` and ``positive``)
    replaced by the fold's index; other parameters as they are."""
    if fold is None or not per_fold(params):
        return params
    out = {k: v.replace("{fold}", str(fold)) if isinstance(v, str) else v for k, v in params.items()}
    if isinstance(params.get("weights"), list):  # as many as folds: checked by the matrix, and by load_split for loso
        out["weights"] = params["weights"][fold]
    return out


def per_fold(params: dict[str, Any]) -> bool:
    """Whether a generator row names one weights folder per fold."""
    return isinstance(params.get("weights"), list) or bool(fold_keys(params))


def fold_keys(params: dict[str, Any]) -> list[str]:
    """The row's string parameters that hold ``{fold}``."""
    return [k for k, v in params.items() if isinstance(v, str) and "{fold}" in v]


def known_folds(params: dict[str, Any], folds: int | str | None) -> Sequence[int | None]:
    """The folds whose parameters can be checked before the data are loaded (``loso``: its first)."""
    if folds is None or not per_fold(params):
        return [None]
    if isinstance(params.get("weights"), list):
        return range(len(params["weights"]))
    return range(folds) if isinstance(folds, int) else [0]  # loso: all of them once the data are loaded
