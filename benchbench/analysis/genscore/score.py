"""Score generated frame sets against the real frames: fidelity/diversity per class and memorisation.

One entry point, :func:`score_sets`, used by the end of ``bench run``, ``bench generators score`` and
``bench generators compare``. Features are cached per (extractor identity, frame-set key) — for
generated frames the key is made of the frames' own cache keys — and the scores per
(extractor, real set, synthetic set, settings), so a re-run computes nothing twice.
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.analysis.genscore import fidelity
from benchbench.analysis.genscore.features import pixels
from benchbench.analysis.genscore.grid import closest_pairs_grid
from benchbench.analysis.genscore.memorisation import memorisation, real_scale
from benchbench.errors import error_line
from benchbench.frames import FrameSet
from benchbench.hashing import sha256_json
from benchbench.method.scores import ScoresSpec

LABELS = ("crack", "sane")
PRDC = ("precision", "recall", "density", "coverage")
SCORES = ("fd", "kid", *PRDC)
HIGHER_IS_BETTER = {"fd": False, "kid": False, "precision": True, "recall": True, "density": True,
                    "coverage": True}


@dataclass
class SynthSet:
    """One generated set: frames per class, a stable key per class, and facts for results.json."""

    frames: dict[str, FrameSet]
    keys: dict[str, str]
    meta: dict[str, Any] = field(default_factory=dict)


def cap(frames: FrameSet, n: int, prefix: bool = False) -> FrameSet:
    """At most ``n`` frames: a prefix of a generated set (so nested sets stay nested and share features),
    evenly spaced real frames otherwise (real frames come sorted by specimen)."""
    if len(frames) <= n:
        return frames
    if prefix:
        return frames[:n]
    return FrameSet([frames[int(i)] for i in np.linspace(0, len(frames) - 1, n).round()], frames.name)


class FeatureStore:
    """Features of one extractor, fitted lazily (only on a cache miss) and cached as .npy files."""

    def __init__(self, name: str, extractor: Any, identity: str, train: FrameSet, seed: int,
                 cache_root: Path | None):
        self.name, self.extractor, self.identity = name, extractor, identity
        self.train, self.seed = train, seed
        self.root = None if cache_root is None else Path(cache_root) / "features"
        self.fitted = not hasattr(extractor, "fit")
        self.standardize = bool(getattr(extractor, "standardize", False))
        self._memo: dict[str, np.ndarray] = {}
        self._norm: tuple[np.ndarray, np.ndarray] | None = None

    def _path(self, key: str) -> Path | None:
        return None if self.root is None else self.root / key[:2] / f"{key}.npy"

    def raw(self, frames: FrameSet, set_key: str) -> np.ndarray:
        key = sha256_json({"extractor": self.identity, "frames": set_key})
        if key in self._memo:
            return self._memo[key]
        path = self._path(key)
        if path is not None and path.exists():
            feats = np.load(path)
        else:
            if not self.fitted:
                self.extractor.fit(self.train, self.seed)
                self.fitted = True
            feats = np.asarray(self.extractor.embed(frames), dtype=np.float64).reshape(len(frames), -1)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                buf = io.BytesIO()
                np.save(buf, feats)
                tmp = path.with_name(f".{path.name}.{time.monotonic_ns()}.tmp")
                tmp.write_bytes(buf.getvalue())
                tmp.replace(path)  # atomic: a concurrent reader never sees half an array
        self._memo[key] = feats
        return feats

    def features(self, frames: FrameSet, set_key: str, train_key: str) -> np.ndarray:
        feats = self.raw(frames, set_key)
        if not self.standardize:
            return feats
        if self._norm is None:
            ref = self.raw(self.train, train_key)
            std = ref.std(0)
            self._norm = ref.mean(0), np.where(std > 0, std, 1.0)
        return (feats - self._norm[0]) / self._norm[1]


def _class_scores(real: np.ndarray, syn: np.ndarray, k: int) -> dict[str, Any]:
    out: dict[str, Any] = {"n_real": int(len(real)), "n_syn": int(len(syn))}
    notes = []
    parts = ((("fd",), lambda: (fidelity.frechet_distance(real, syn),)),
             (("kid", "kid_se"), lambda: fidelity.kid(real, syn)),
             (PRDC, lambda: tuple(fidelity.prdc(real, syn, k)[n] for n in PRDC)))
    for names, compute in parts:
        try:
            values = compute()
        except ValueError as exc:  # too few frames of this class for this score: say so, keep the others
            values = (None,) * len(names)
            notes.append(str(exc))
        out.update(zip(names, values, strict=True))
    if notes:
        out["notes"] = notes
    return out


def score_sets(train: FrameSet, test: FrameSet, sets: Mapping[str, SynthSet], spec: ScoresSpec,
               plugins: Any, *, cache_root: Path | None, seed: int = 0,
               grid_dir: Path | None = None) -> dict[str, Any]:
    """The ``generator_scores`` section: extractors, per-set scores and memorisation, flags, notes, errors."""
    train_key = train.manifest_hash()
    test_key = test.manifest_hash()
    real = {label: train.filter(lambda f, lab=label: f.label == lab) for label in LABELS}
    real = {label: cap(fs, spec.max_frames) for label, fs in real.items()}
    real_keys = {label: sha256_json([train_key, label, spec.max_frames]) for label in LABELS}
    section: dict[str, Any] = {"extractors": {}, "sets": [], "flags": [], "notes": [], "errors": [],
                               "settings": spec.model_dump(mode="json", exclude={"enabled"})}
    stores = _extractors(spec, plugins, train, train_key, seed, cache_root, section)
    section["reference"] = _reference(stores, real, real_keys, test, test_key, spec, train_key, section)
    pix = _PixelSpace(spec.pixel_size)
    pix_train, pix_test = pix(train, train_key), pix(test, test_key)
    pix_scale = real_scale(pix_train, pix_test)
    for set_id, s in sets.items():
        entry: dict[str, Any] = {"id": set_id, **s.meta, "n": {k: len(v) for k, v in s.frames.items()},
                                 "scores": {}, "memorisation": {}}
        frames = {label: cap(s.frames.get(label, FrameSet([])), spec.max_frames, prefix=True) for label in LABELS}
        both = frames["crack"] + frames["sane"]
        both_key = sha256_json([s.keys.get("crack"), s.keys.get("sane"), spec.max_frames])
        if not len(both):
            entry["error"] = "no frames"
            section["sets"].append(entry)
            continue
        mem = memorisation(pix(both, both_key), pix_train, pix_test, spec.near_copy, pix_scale)
        pairs = mem.pop("_pairs")
        entry["memorisation"]["pixel"] = mem
        for name, store in stores.items():
            try:
                entry["scores"][name] = _scores_for(store, real, real_keys, frames, s.keys, spec, train_key)
                feats = [store.features(fs, key, train_key) for fs, key in
                         ((both, both_key), (train, train_key), (test, test_key))]
                m = memorisation(*feats, spec.near_copy)
                m.pop("_pairs")
                entry["memorisation"][name] = m
            except Exception as exc:  # one extractor failing must not hide the others' scores
                section["errors"].append(f"{set_id}: {name}: {error_line(exc)}")
        if mem["test"]["near_copies"]:
            section["flags"].append(
                f"generator set {set_id}: {mem['test']['near_copies']}/{mem['n']} synthetic frames are near-copies of "
                f"held-out TEST frames ({mem['test']['exact_copies']} exact): training on it leaks the test set")
        if grid_dir is not None and spec.closest_pairs:
            try:
                path = closest_pairs_grid(both, train, test, pairs, grid_dir / f"closest__{set_id}.png",
                                          spec.closest_pairs, pix_scale)
                entry["closest_pairs_png"] = path.name
            except Exception as exc:  # a picture must never cost the scores
                section["errors"].append(f"{set_id}: closest-pairs grid: {type(exc).__name__}: {exc}")
        section["sets"].append(entry)
    for name, store in stores.items():
        accuracy = getattr(store.extractor, "train_accuracy", None)
        if accuracy is not None:  # fitted in this call (not when every feature came from the cache)
            section["extractors"][name]["trained_on"]["train_accuracy"] = accuracy
    return section


class _PixelSpace:
    def __init__(self, size: int):
        self.size = size
        self._memo: dict[str, np.ndarray] = {}

    def __call__(self, frames: FrameSet, key: str) -> np.ndarray:
        if key not in self._memo:
            self._memo[key] = pixels(frames, self.size).astype(np.float64)
        return self._memo[key]


def _extractors(spec: ScoresSpec, plugins: Any, train: FrameSet, train_key: str, seed: int,
                cache_root: Path | None, section: dict[str, Any]) -> dict[str, FeatureStore]:
    stores = {}
    for ex in spec.extractors:
        params = dict(ex.model_extra or {})
        info: dict[str, Any] = {"plugin": ex.plugin or ex.name, "params": params}
        section["extractors"][ex.name] = info
        try:
            entry = plugins.registry("feature_extractors").get(ex.plugin or ex.name, field="scores.extractors")
            info["from"] = entry.plugin
            extractor = entry.create(**params)
            learns = hasattr(extractor, "fit")
            identity = sha256_json({"plugin": entry.name, "version": getattr(extractor, "version", entry.version),
                                    "fingerprint": extractor.fingerprint(),
                                    "fit": {"train": train_key, "seed": seed} if learns else None})
        except Exception as exc:
            info["error"] = error_line(exc)
            section["errors"].append(f"extractor {ex.name}: {info['error']}")
            continue
        info |= {"version": getattr(extractor, "version", entry.version), "identity": identity,
                 "standardized": bool(getattr(extractor, "standardize", False))}
        if learns:
            info["trained_on"] = {"frames": len(train), "manifest_hash": train_key, "seed": seed,
                                  "names": [f.stem for f in train]}
        stores[ex.name] = FeatureStore(ex.name, extractor, identity, train, seed, cache_root)
    return stores


def _reference(stores: dict[str, FeatureStore], real: dict[str, FrameSet], real_keys: dict[str, str],
               test: FrameSet, test_key: str, spec: ScoresSpec, train_key: str,
               section: dict[str, Any]) -> dict[str, Any]:
    """The held-out real test frames scored like a generated set: what a generator that drew new
    specimens from the real distribution would get (FD/KID of finite samples are never 0)."""
    by_label = {label: cap(test.filter(lambda f, lab=label: f.label == lab), spec.max_frames) for label in LABELS}
    keys = {label: sha256_json([test_key, label]) for label in LABELS}
    out: dict[str, Any] = {"id": "real test frames", "n": {k: len(v) for k, v in by_label.items()}, "scores": {}}
    for name, store in stores.items():
        try:
            out["scores"][name] = _scores_for(store, real, real_keys, by_label, keys, spec, train_key)
        except Exception as exc:  # reported like any set's failure
            section["errors"].append(f"reference: {name}: {error_line(exc)}")
    return out


def _scores_for(store: FeatureStore, real: dict[str, FrameSet], real_keys: dict[str, str],
                frames: dict[str, FrameSet], keys: dict[str, str], spec: ScoresSpec,
                train_key: str) -> dict[str, Any]:
    out = {}
    for label in LABELS:
        syn = frames[label]
        if len(syn) == 0 or len(real[label]) == 0:
            continue
        syn_key = sha256_json([keys.get(label), spec.max_frames])
        r = store.features(real[label], real_keys[label], train_key)
        f = store.features(syn, syn_key, train_key)
        out[label] = _class_scores(r, f, spec.k)
    return out
