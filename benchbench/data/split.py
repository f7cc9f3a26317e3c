"""Leakage-free train/test split by group (the specimen), and the check that proves it.

Frames of one specimen are strongly correlated (same plate, same scan, neighbouring frames), so a
random frame split would measure memorisation. Held-out test frames are therefore whole groups.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from benchbench.data.folds import Fold, make_folds
from benchbench.data.groups import compile_group_regex, group_of
from benchbench.errors import UserError
from benchbench.frames import Frame, FrameSet
from benchbench.hashing import sha256_json
from benchbench.plugins import PluginRef

# How many seeded group orders to try when looking for a test side that holds both classes.
_ORDER_TRIES = 64


def frame_name(frame: Frame) -> str:
    # meta["name"] first: frames cached by the harness live under hashed file names but keep their name.
    if frame.meta.get("name"):
        return str(frame.meta["name"])
    return frame.path.name if frame.path is not None else frame.stem


def regroup(frames: FrameSet, group_regex: str) -> FrameSet:
    """The frames with ``group`` set from ``group_regex`` matched on their file name."""
    regex = compile_group_regex(group_regex)
    return FrameSet((replace(f, group=group_of(frame_name(f), regex)) for f in frames), frames.name)


def exclude_groups(frames: FrameSet, groups: Sequence[str], group_regex: str | None, file: str) -> FrameSet:
    """The frames outside ``groups`` (each of which must exist, so a typo cannot silently keep one)."""
    if group_regex is not None:
        frames = regroup(frames, group_regex)
    unknown = sorted(set(groups) - set(frames.groups()))
    if unknown:
        raise UserError(f"excluded group(s) {unknown} not in the data (groups: {', '.join(frames.groups())})",
                        file=file, field="split.exclude_groups", fix="use group names from the list")
    return frames.filter(lambda f: f.group not in set(groups))


def split_frames(frames: FrameSet, *, test_fraction: float = 0.3, group_regex: str | None = None,
                 test_groups: Sequence[str] | None = None, seed: int = 0) -> tuple[FrameSet, FrameSet]:
    """(train, test): whole groups go to test until about ``test_fraction`` of the frames are there.

    The groups are taken in a seeded random order; among the first orders tried, the first whose
    test side holds both classes wins (when the data allow it), so a seed always gives the same split.
    ``test_groups`` overrides the draw with an explicit list.
    """
    if group_regex is not None:
        frames = regroup(frames, group_regex)
    if len(frames) == 0:
        raise UserError("no frames to split", field="split", fix="check the data section of the matrix")
    counts = Counter(f.group for f in frames)
    groups = sorted(counts)
    if test_groups is not None:
        chosen = set(map(str, test_groups))
        unknown = sorted(chosen - set(groups))
        if unknown:
            raise UserError(f"test group(s) {unknown} not in the data (groups: {', '.join(groups)})",
                            field="split.test_groups", fix="use group names from the list")
        if chosen >= set(groups):
            raise UserError("every group is a test group: nothing left to train on", field="split.test_groups",
                            fix="leave at least one group out of test_groups")
    else:
        if not 0.0 < test_fraction < 1.0:
            raise UserError(f"test_fraction must be between 0 and 1 (got {test_fraction})",
                            field="split.test_fraction", fix="e.g. 0.3")
        if len(groups) < 2:
            raise UserError(
                f"only one group ({groups[0]!r}) in {len(frames)} frames: cannot hold out a group",
                field="split", fix=r"name files with their specimen (e.g. Sample3), set split.group_regex to "
                                   r"the part of the file name that identifies it, or give split.test_groups")
        chosen = _draw_groups(frames, counts, groups, test_fraction, seed)
    train = FrameSet((f for f in frames if f.group not in chosen), frames.name)
    test = FrameSet((f for f in frames if f.group in chosen), frames.name)
    return train, test


def _draw_groups(frames: FrameSet, counts: Counter, groups: list[str], fraction: float, seed: int) -> set[str]:
    labels: dict[str, set[str]] = {}
    for f in frames:
        labels.setdefault(f.group, set()).add(f.label)
    target = fraction * len(frames)
    best: set[str] | None = None
    for t in range(_ORDER_TRIES):
        order = [groups[i] for i in np.random.default_rng([seed % (1 << 63), t]).permutation(len(groups))]
        # Take groups in this order; stop at the prefix whose size is closest to the target,
        # keeping at least one group on each side.
        total, picks, best_k, best_err = 0, [], 1, float("inf")
        for k, g in enumerate(order[:-1], start=1):
            total += counts[g]
            picks.append(g)
            if abs(total - target) < best_err:
                best_k, best_err = k, abs(total - target)
        chosen = set(order[:best_k])
        if best is None:
            best = chosen
        if set().union(*(labels[g] for g in chosen)) >= {"crack", "sane"}:
            return chosen
    assert best is not None
    return best


def check_no_leakage(train: FrameSet, test: FrameSet) -> None:
    """Raise UserError when a real group or an identical image is on both sides.

    Synthetic frames belong to no real specimen, so only real frames are compared by group;
    every frame is compared by content hash.
    """
    shared = sorted({f.group for f in train if f.source == "real"} & {f.group for f in test if f.source == "real"})
    if shared:
        raise UserError(f"group(s) {shared} are in both train and test: test frames would leak into training",
                        field="split", fix="split by group (split.by: group) or fix split.test_groups/group_regex")
    seen: dict[str, Frame] = {}
    for f in train:
        seen.setdefault(f.content_hash(), f)
    for f in test:
        twin = seen.get(f.content_hash())
        if twin is not None:
            raise UserError(f"identical image in train ({frame_name(twin)}) and test ({frame_name(f)})",
                            file=f.path, field="split",
                            fix="remove the duplicate, or put both files in the same group")


@dataclass
class LoadedSplit:
    entry: Any  # the dataset's registry entry
    dataset: Any
    frames: FrameSet  # every frame kept (after split.exclude_groups)
    folds: list[Fold]  # one (index None) for a plain split; split.folds of them otherwise

    def fold(self, index: int | None) -> Fold:
        """The fold ``index`` (None: the plain split); a user error naming the folds there are."""
        for f in self.folds:
            if f.index == index:
                return f
        have = "no folds (a plain split)" if self.folds[0].index is None else f"folds 0..{len(self.folds) - 1}"
        raise UserError(f"no fold {index}: the matrix's split has {have}", field="--fold",
                        fix="give a fold index the split has" if self.folds[0].index is not None
                        else "leave out --fold, or set split.folds in the matrix")

    # The plain split's sets (with folds, ask ``fold(i)``: there is no single train or test set).
    @property
    def train(self) -> FrameSet:
        return self.fold(None).train

    @property
    def val(self) -> FrameSet | None:
        return self.fold(None).val

    @property
    def test(self) -> FrameSet:
        return self.fold(None).test

    @property
    def manifest_hash(self) -> str:
        """``run.data.manifest_hash``: a plain split's fold hash (as before folds), else a hash of the folds'."""
        hashes = [f.manifest_hash for f in self.folds]
        return hashes[0] if self.folds[0].index is None else sha256_json({"folds": hashes})


def load_split(matrix: Any, matrix_file: str, plugins: Any, *, cache: Any = None) -> LoadedSplit:
    """A matrix's data, split as its cells see it: train / val / held-out test per fold, leakage checked.

    ``cache`` (a benchbench.records.cache.Cache) writes in-memory frames (simulated data) to files so
    workers can read them; without it frames stay in memory (validation, export).
    """
    ds_entry = plugins.registry("datasets").get(matrix.data.dataset, field="data.dataset", file=matrix_file)
    dataset = plugins.instance(PluginRef("datasets", ds_entry.name, ds_entry.name, matrix.data.params))
    frames = dataset.load()
    if not frames.has_boxes():
        raise UserError("this dataset has frames without boxes (Classes layout?), so it cannot train or "
                        "evaluate a detector", file=matrix_file, field="data.layout",
                        fix="use layout yolo, coco or masks")
    if cache is not None:
        frames = cache.materialize(frames, f"dataset:{ds_entry.name}:{dataset.fingerprint()}")
    sp = matrix.split
    if sp.exclude_groups:
        frames = exclude_groups(frames, sp.exclude_groups, sp.group_regex, matrix_file)
    elif sp.group_regex is not None:
        frames = regroup(frames, sp.group_regex)

    def with_val(train: FrameSet) -> tuple[FrameSet, FrameSet | None]:
        if sp.val_fraction > 0:
            return split_frames(train, test_fraction=sp.val_fraction, seed=sp.seed)
        return train, None

    if sp.folds is not None:
        k = len(frames.groups()) if sp.folds == "loso" else sp.folds
        for i, g in enumerate(matrix.generators):  # loso: how many folds was not known before the data
            w = g.params.get("weights")
            if isinstance(w, list) and len(w) != k:
                raise UserError(f"'{g.name}': {len(w)} weights folders for {k} folds", file=matrix_file,
                                field=f"generators[{i}].weights", fix="give one folder per fold, in fold order")
        return LoadedSplit(ds_entry, dataset, frames, make_folds(frames, sp, with_val))
    train, test = split_frames(frames, test_fraction=sp.test_fraction, test_groups=sp.test_groups, seed=sp.seed)
    check_no_leakage(train, test)
    train, val = with_val(train)
    if not len(test.positives()):
        raise UserError("the held-out test split has no cracked frame", file=matrix_file, field="split",
                        fix="raise split.test_fraction or choose split.test_groups with cracks")
    return LoadedSplit(ds_entry, dataset, frames, [Fold(None, train, val, test)])
