"""Conformance checks for plugin authors: call them from your plugin's tests.

``check_detector(factory)`` fits and predicts on a tiny simulated set and raises
``AssertionError`` with a one-line reason (and, for boxes that miss, the probable cause) on
the first broken rule of the Detector protocol (see docs/plugins-tutorial.md);
``check_generator(make, ctx)`` does the same for the Generator protocol. Importing this module
imports no torch. It is also a pytest plugin (:mod:`benchbench.pytest_plugin`)
whose fixtures wrap these helpers.

The other helpers are the checks every plugin's own tests repeat: :func:`forbid_network`
(a ``no_network`` fixture), :func:`heavy_imports` (the hook module stays light),
:func:`registrations` and :func:`installed_entry` (what the plugin registers, directly
and through its entry point), :func:`plugin_cli` (its commands on a bare group) and
:func:`init_tiny` (a generator plugin's tiny random weights, made by its own command);
:func:`torch_threads` pins torch's CPU threads for a block.

Example (a plugin's ``tests/test_conformance.py``)::

    from benchbench.testing import check_detector
    from my_plugin.detector import MyDetector

    def test_conformance(tmp_path):
        check_detector(lambda: MyDetector(epochs=2), tmp_path=tmp_path)
"""

from __future__ import annotations

import json
import math
import os
import pickle
import shutil
import socket
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from benchbench import box_meaning
from benchbench.data.simulate import simulate_frames
from benchbench.frames import Box, Frame, FrameSet
from benchbench.method.curves import CurveRecorder
from benchbench.method.matrix import MetricsSpec
from benchbench.plugins import Plugins
from benchbench.protocols import CellContext, Detector, GenerationRequest

__all__ = ["check_detector", "check_generator", "tiny_frames", "blank_frame", "make_context", "curve_context",
           "forbid_network",
           "heavy_imports", "registrations", "installed_entry", "plugin_cli", "init_tiny", "torch_threads"]

BOUNDS_TOLERANCE = 1.0  # px a box may poke out of the image (rounding in letterbox/rescale code)


def tiny_frames(n: int = 24, size: int = 64, seed: int = 0, positive_fraction: float = 0.4) -> FrameSet:
    """``n`` simulated flying-spot frames of ``size`` px with exact crack boxes (cheap, deterministic),
    ``positive_fraction`` of them cracked."""
    return simulate_frames(n, seed, size=size, positive_fraction=positive_fraction)


def blank_frame(width: int = 64, height: int = 64, name: str = "blank") -> Frame:
    """An all-black sane frame: a detector must return a (normally empty) list for it, not crash."""
    return Frame(path=None, width=width, height=height, label="sane", boxes=(), source="real",
                 image=np.zeros((height, width, 3), np.uint8), meta={"name": name})


def make_context(work_dir: str | Path, seed: int = 0, cell_id: str = "check") -> CellContext:
    """A CellContext like the harness gives, rooted at ``work_dir`` (created)."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    return CellContext(cell_id=cell_id, seed=seed, work_dir=work_dir, cache_dir=work_dir.parent / "cache")


def curve_context(work_dir: str | Path, test: FrameSet, curve: Sequence[float] = (0.5, 1.0), seed: int = 0,
                  cell_id: str = "check") -> tuple[CellContext, list[dict[str, Any]]]:
    """A context whose matrix asks for a learning curve (``metrics.curve``) scored on ``test``, and the
    list the harness fills with the curve's points (results.json's ``curve``) as the detector calls
    ``ctx.checkpoint``: the harness's own scoring, so a test sees what a run would record."""
    ctx = make_context(work_dir, seed, cell_id)
    recorder = CurveRecorder(test, MetricsSpec(bootstrap=0).eval_kwargs(), ctx.work_dir, cell_id)
    return ctx, recorder.attach(ctx, tuple(curve)).points


def check_detector(factory: Callable[[], Any], *, train: FrameSet | None = None, test: FrameSet | None = None,
                   tmp_path: str | Path | None = None, fit_kwargs: dict[str, Any] | None = None,
                   seed: int = 0, meaning: bool = True, fresh_process: bool = True) -> dict[str, Any]:
    """Check that detectors made by ``factory()`` follow the benchbench Detector protocol.

    ``factory`` takes no argument and returns a *fresh* detector each call (e.g.
    ``lambda: YoloDetector(epochs=2, imgsz=64)``). ``train`` defaults to :func:`tiny_frames`
    (24 frames, 64 px) plus two cracked frames whose boxes are unknown (``None``, as in
    datasets without localisation); ``test`` to 8 other tiny frames (3 cracked). ``fit_kwargs``
    are extra keyword arguments for ``fit`` (for instance ``{"val": frames}``; ``val`` defaults
    to None). Checked, in order:

    1. protocol: ``name``/``version`` strings, callable ``fit``/``predict``/``params``,
       ``params()`` a JSON-able dict;
    2. fit then predict: ``predict`` gets the test frames without their ground truth, as
       `bench run` hands them (:meth:`Frame.without_truth`: boxes and label ``None``, empty
       ``meta``), so a detector that reads them fails here; one list per frame, each item a :class:`Box` with finite
       x/y/w/h, w and h >= 0, inside the image (+-1 px), score in [0, 1]; a zero-area box
       (w or h 0) gives a ``UserWarning``: a run drops it with a warning;
    3. meaning: the top-scored box overlaps a true box at IoU 0.1 on most cracked test
       frames; if not, the message names the probable cause (x1,y1,x2,y2 for x,y,w,h,
       0-1 coordinates, centres, swapped x/y, frame order, no boxes at all). A detector
       that cannot learn the easy set in a fit short enough for a CPU test passes
       ``meaning=False`` and tests a longer-trained model elsewhere;
    4. empty input gives ``[]``; an all-black frame gives a list and no crash;
    5. determinism: a second fresh instance, same seed, own work_dir -> identical boxes;
    6. save/load: a fresh instance, not fitted, same work_dir -> identical boxes, in this
       process and (``fresh_process=True``) in a new Python process, as a resumed run does;
       that process runs torch (when this one has imported it) on this process's thread count, so
       boxes compare exactly under ``one_thread_torch`` or :func:`torch_threads`.
       The new process gets the detector by pickling ``factory`` (a class, a module-level
       function or ``functools.partial``) or else a fresh unfitted instance, so define the
       detector in an importable module, not in the test file.

    Returns a small summary (name, boxes per frame, meaning hits, ...). Raises AssertionError.
    """
    own_tmp = tmp_path is None
    base = Path(tempfile.mkdtemp(prefix="bb-check-")) if own_tmp else Path(tmp_path) / "check_detector"
    try:
        return _check(factory, train, test, base, dict(fit_kwargs or {}), seed, meaning, fresh_process)
    finally:
        if own_tmp:
            shutil.rmtree(base, ignore_errors=True)


def check_generator(make: Callable[[], Any], ctx: Any, *, size: int = 64, guidance: float | None = 7.5,
                    gives_boxes: bool = False, calibration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check the Generator protocol on fresh instances from ``make()``; raise AssertionError.

    Checked: name/version strings and a stable 64-hex fingerprint; frames of both classes
    (count, uint8 HxWx3 at ``size``, label, boxes None for cracks unless ``gives_boxes``
    and () for sane frames, ``synthetic:<name>`` source, unique meta names, no path);
    the same request on a fresh instance gives identical bytes; a ``start_index`` request
    gives the same bytes as the matching part of a longer request; another seed differs. A generator that
    calibrates itself gets ``calibration`` (what its ``calibrate`` returned) with every request; a crack mask
    a frame carries (``meta["mask"]``) must be a bool array of the frame's size.
    """
    gen = make()
    assert isinstance(gen.name, str) and gen.name, "generator needs a non-empty name"
    assert isinstance(gen.version, str) and gen.version, "generator needs a version string"
    fp = gen.fingerprint()
    assert isinstance(fp, str) and len(fp) == 64 and fp == make().fingerprint(), "fingerprint must be stable"
    frames: dict[str, list[Frame]] = {}
    for label in ("crack", "sane"):
        req = GenerationRequest(label=label, n=4, guidance=guidance, seed=11, size=size, calibration=calibration)
        got = gen.generate(req, ctx)
        assert len(got) == 4, f"{label}: asked 4 frames, got {len(got)}"
        for f in got:
            assert isinstance(f, Frame) and f.path is None and f.label == label
            assert f.image is not None and f.image.dtype == np.uint8 and f.image.shape == (size, size, 3), \
                f"{label}: image must be uint8 {size}x{size}x3"
            assert (f.width, f.height) == (size, size)
            assert f.source == f"synthetic:{gen.name}"
            if "mask" in f.meta:
                mask = f.meta["mask"]
                assert isinstance(mask, np.ndarray) and mask.dtype == bool and mask.shape == (size, size), \
                    f"{label}: meta['mask'] must be a {size}x{size} bool array"
            if label == "sane":
                assert f.boxes == (), "sane frames carry no boxes: ()"
            elif not gives_boxes:
                assert f.boxes is None, "cracked frames without localisation must have boxes=None"
        frames[label] = got
    names = [f.meta["name"] for fs in frames.values() for f in fs]
    assert len(set(names)) == len(names), "meta names must be unique"
    again = make().generate(GenerationRequest(label="crack", n=4, guidance=guidance, seed=11, size=size,
                                              calibration=calibration), ctx)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames["crack"], again, strict=True)), \
        "same seed on a fresh instance must give identical bytes"
    tail = gen.generate(GenerationRequest(label="crack", n=2, guidance=guidance, seed=11, size=size,
                                          start_index=2, calibration=calibration), ctx)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames["crack"][2:], tail, strict=True)), \
        "start_index=2 must give frames 2 and 3 of the longer request"
    other = gen.generate(GenerationRequest(label="crack", n=1, guidance=guidance, seed=12, size=size,
                                           calibration=calibration), ctx)
    assert not np.array_equal(other[0].image, frames["crack"][0].image), "another seed must give another frame"
    return {"name": gen.name, "fingerprint": fp, "frames": sum(len(v) for v in frames.values())}


def forbid_network(monkeypatch: Any) -> None:
    """Make every connection and DNS lookup fail the test; ``monkeypatch`` is pytest's (or a
    ``pytest.MonkeyPatch.context()``), so the sockets come back after the test."""
    for owner, name in ((socket.socket, "connect"), (socket.socket, "connect_ex"),
                        (socket, "create_connection"), (socket, "getaddrinfo")):
        monkeypatch.setattr(owner, name, _refuse(name))


def heavy_imports(code: str, heavy: Iterable[str] = ("torch",)) -> list[str]:
    """The modules of ``heavy`` that a fresh interpreter has imported after running ``code``.

    `bench` imports every plugin's hook module at start, so ``heavy_imports("import my_plugin")``
    should be ``[]``. Raises AssertionError when ``code`` itself fails.
    """
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {sorted(set(heavy))!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise AssertionError(f"{code!r} failed: {out.stderr.strip()}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def registrations(hook: Callable[..., Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    """``(name, factory, meta)`` of every ``register(...)`` call a ``benchbench_register_*`` hook makes."""
    seen: list[tuple[str, Any, dict[str, Any]]] = []
    hook(register=lambda name, factory, **meta: seen.append((name, factory, meta)))
    return seen


def installed_entry(distribution: str, name: str, kind: str = "detectors") -> Any:
    """The registry entry ``name`` as `bench` finds it through the entry point of the installed
    ``distribution`` (only that distribution loaded); None when it is not installed.

    Raises AssertionError when the plugin loads or registers with errors.
    """
    old = os.environ.get("BENCHBENCH_PLUGINS")
    os.environ["BENCHBENCH_PLUGINS"] = distribution
    try:
        plugins = Plugins().load()
    finally:
        if old is None:
            os.environ.pop("BENCHBENCH_PLUGINS", None)
        else:
            os.environ["BENCHBENCH_PLUGINS"] = old
    infos = [i for i in plugins.info.values() if i.dist is not None]  # only ``distribution`` was allowed
    if not infos:
        return None
    registry = plugins.registry(kind)
    errors = [e for i in infos for e in i.errors]
    if errors:
        raise AssertionError(f"{distribution}: {'; '.join(errors)}")
    return registry.get(name)


def plugin_cli(*plugins: Any) -> Any:
    """A bare click group holding what the ``benchbench_register_commands`` hook of each of
    ``plugins`` (modules or objects) adds, in that order: the plugin's commands as `bench` shows them."""
    import click

    @click.group()
    def root() -> None:
        pass

    for plugin in plugins:
        plugin.benchbench_register_commands(cli=root)
    return root


def init_tiny(cli: Any, name: str, out: str | Path, *args: str) -> Path:
    """Run ``generators init-tiny NAME OUT ARGS`` on ``cli`` (e.g. from :func:`plugin_cli`) and return
    OUT; raises AssertionError with the command's output when it fails."""
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["generators", "init-tiny", name, str(out), *args])
    if result.exit_code != 0:
        raise AssertionError(f"init-tiny {name} failed ({result.exit_code}): {result.output}{result.exception!r}")
    return Path(out)


@contextmanager
def torch_threads(n: int = 1) -> Iterator[Any]:
    """torch on ``n`` CPU threads inside the block, restored after; yields torch.

    A training that a test compares bit for bit with another (a resumed run with the run it resumes)
    must run on the same number: a reduction split across threads adds up in another order. A
    module-scoped fixture that trains runs before the test's ``one_thread_torch``, so it needs this.
    """
    import torch  # torch: heavy, off the start-up path

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield torch
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------------------- internals
def _check(factory: Callable[[], Any], train: FrameSet | None, test: FrameSet | None, base: Path,
           fit_kwargs: dict[str, Any], seed: int, meaning: bool, fresh_process: bool) -> dict[str, Any]:
    train = _default_train(seed) if train is None else train
    test = tiny_frames(n=8, size=64, seed=seed + 1) if test is None else test
    if len(test) == 0:
        _fail("check_detector", "the test set is empty; give at least one frame")
    val = fit_kwargs.pop("val", None)

    first = factory()
    label = _check_protocol(first)

    ctx_a = make_context(base / "a", seed=seed, cell_id="check-a")
    unknown = sum(1 for f in train if f.boxes is None)
    _call(label, f"fit on {len(train)} frames ({sum(1 for f in train if f.boxes == ())} without a crack, boxes (); "
                 f"{unknown} cracked with unknown boxes, boxes None: skip those)",
          lambda: first.fit(train, val, ctx_a, **fit_kwargs))
    truth, test = test, test.without_truth()  # predict sees what the harness hands it: no ground truth
    preds_a = _call(label, "predict after fit, on frames without ground truth (boxes None, label None, meta {}, "
                           "as `bench run` hands them: predict must not read them)", first.predict, test, ctx_a)
    _check_predictions(label, "predict after fit", preds_a, test)
    _check_params(label, first)
    if meaning:
        cause = box_meaning.probable_cause(truth, preds_a)
        if cause:
            _fail(label, f"predict after fit: {cause} (check_detector(..., meaning=False) skips this check for "
                         "a detector that cannot learn in a short CPU fit)")

    empty = _call(label, "predict on an empty FrameSet", first.predict, FrameSet([]), ctx_a)
    if not isinstance(empty, list) or empty != []:
        _fail(label, f"predict on an empty FrameSet must return [], got {empty!r}")
    blank = FrameSet([blank_frame(test[0].width, test[0].height)]).without_truth()
    what = "predict on an all-black frame"
    _check_predictions(label, what, _call(label, what, first.predict, blank, ctx_a), blank)

    second = factory()
    if second is first:
        _fail(label, "factory() must return a fresh instance on each call")
    ctx_b = make_context(base / "b", seed=seed, cell_id="check-b")
    second.fit(train, val, ctx_b, **fit_kwargs)
    _check_same(label, "determinism: two fresh instances fitted with the same seed", preds_a,
                second.predict(test, ctx_b))

    reloaded = factory()
    # Not fitted: it must load what fit saved in ctx_a.work_dir (a resumed run does exactly this).
    preds_c = _call(label, "save/load: a fresh, unfitted instance predicting from the fitted work_dir",
                    reloaded.predict, test, ctx_a)
    _check_predictions(label, "predict after reload", preds_c, test)
    _check_same(label, "save/load: a fresh instance predicting from the fitted work_dir", preds_a, preds_c)
    if fresh_process:
        _check_same(label, "save/load in a fresh process (state kept in memory, e.g. a module or class "
                           "attribute, instead of ctx.work_dir?)", preds_a,
                    _predict_in_new_process(label, factory, test, ctx_a, base / "fresh"))

    cracked = [i for i, f in enumerate(truth) if f.boxes]
    return {
        "name": first.name, "version": first.version, "params": first.params(),
        "frames": len(test), "boxes": [len(b) for b in preds_a],
        "max_score": max((b.score for boxes in preds_a for b in boxes), default=None),
        "meaning": {"cracked": len(cracked), "hits": box_meaning.hits(
            [truth[i] for i in cracked], [box_meaning.top_box(preds_a[i]) for i in cracked])} if meaning else None,
    }


def _default_train(seed: int) -> FrameSet:
    """The tiny set plus two cracked frames with unknown boxes: fit must skip or use them, not crash."""
    unknown = [f.with_boxes(None) for f in tiny_frames(n=6, size=64, seed=seed + 1000) if f.label == "crack"][:2]
    return FrameSet(list(tiny_frames(n=24, size=64, seed=seed)) + unknown, "check-train")


_FRESH_PROCESS = """
import pickle, sys
from benchbench.api import CellContext
with open(sys.argv[1], "rb") as fh:
    job = pickle.load(fh)
if job["torch_threads"]:
    import torch
    torch.set_num_threads(job["torch_threads"])
det = job["factory"]() if job["call"] else job["factory"]
boxes = det.predict(job["frames"], CellContext(**job["ctx"]))
with open(sys.argv[2], "wb") as fh:
    pickle.dump(boxes, fh)
"""


def _predict_in_new_process(label: str, factory: Callable[[], Any], frames: FrameSet, ctx: CellContext,
                            folder: Path) -> Any:
    """``predict`` of a fresh, unfitted detector in a new Python process, from the fitted ``ctx.work_dir``."""
    folder.mkdir(parents=True, exist_ok=True)
    job, out = folder / "job.pkl", folder / "boxes.pkl"
    given = {"cell_id": ctx.cell_id, "seed": ctx.seed, "work_dir": ctx.work_dir, "cache_dir": ctx.cache_dir,
             "device": ctx.device, "budget_frames": ctx.budget_frames}
    # The same torch thread count as here (1 under the one_thread_torch fixture): a reduction split
    # over another number of threads adds up in another order, and the boxes differ in the last bits.
    threads = sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None
    common = {"frames": frames, "ctx": given, "torch_threads": threads}
    try:
        payload = pickle.dumps({"factory": factory, "call": True, **common})
    except Exception:  # a lambda: send what it builds, unfitted
        try:
            payload = pickle.dumps({"factory": factory(), "call": False, **common})
        except Exception as exc:
            _fail(label, f"save/load in a fresh process: neither the factory nor a fresh detector pickles ({exc}); "
                         "make the detector's __init__ state plain data, or pass fresh_process=False")
    job.write_bytes(payload)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [*sys.path, os.environ.get("PYTHONPATH", "")] if p)}
    proc = subprocess.run([sys.executable, "-c", _FRESH_PROCESS, str(job), str(out)], capture_output=True,
                          text=True, env=env, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        hint = (" (the detector class must be importable: define it in a module, not in the test file)"
                if "AttributeError: Can't get attribute" in proc.stderr or "ModuleNotFoundError" in proc.stderr
                else " (does fit save all that predict needs in ctx.work_dir? state kept in a module or class "
                     "attribute is gone in a new process, as in a resumed run)")
        _fail(label, f"save/load in a fresh process: predict from the fitted work_dir failed: {last}{hint}")
    return pickle.loads(out.read_bytes())


def _fail(label: str, message: str) -> None:
    raise AssertionError(f"{label}: {message}")


def _refuse(name: str) -> Callable[..., None]:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted: socket {name}{args!r} — a benchbench plugin must work "
                             "offline: load weights from local paths (benchbench.api.require_local_path)")

    return refuse


def _call(label: str, what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run a step whose crash is itself a protocol violation, reported as one."""
    try:
        return fn(*args)
    except Exception as exc:
        raise AssertionError(f"{label}: {what} raised {type(exc).__name__}: {exc}") from exc


def _check_protocol(det: Any) -> str:
    label = f"detector {getattr(det, 'name', type(det).__name__)!r}"
    for attr in ("name", "version"):
        value = getattr(det, attr, None)
        if not isinstance(value, str) or not value.strip():
            _fail(label, f"attribute {attr!r} must be a non-empty string, got {value!r}")
    for method in ("fit", "predict", "params"):
        if not callable(getattr(det, method, None)):
            _fail(label, f"method {method}() is missing")
    if not isinstance(det, Detector):
        _fail(label, "does not satisfy benchbench.api.Detector")
    _check_params(label, det)
    return label


def _check_params(label: str, det: Any) -> None:
    params = det.params()
    if not isinstance(params, dict):
        _fail(label, f"params() must return a dict, got {type(params).__name__}")
    try:
        json.dumps(params)
    except (TypeError, ValueError) as exc:
        _fail(label, f"params() must be JSON-able (it goes into results.json): {exc}")


def _check_predictions(label: str, what: str, preds: Any, frames: FrameSet) -> None:
    if not isinstance(preds, list):
        _fail(label, f"{what}: predict must return a list, got {type(preds).__name__}")
    if len(preds) != len(frames):
        _fail(label, f"{what}: {len(preds)} box lists for {len(frames)} frames (need one list per frame)")
    flat = []
    for i, (boxes, frame) in enumerate(zip(preds, frames, strict=True)):
        where = f"{what}: frame {i} ({frame.stem})"
        if not isinstance(boxes, list):
            _fail(label, f"{where}: expected a list of Box, got {type(boxes).__name__}")
        for j, box in enumerate(boxes):
            _check_box(label, f"{where} box {j}", box, frame)
            if box.w == 0 or box.h == 0:
                flat.append(f"frame {i} box {j}")
    if flat:  # legal, but worthless: a run drops them with a warning
        warnings.warn(f"{label}: {what}: {len(flat)} zero-area box(es) ({', '.join(flat[:3])}"
                      f"{' ...' if len(flat) > 3 else ''}); a run drops them: give each box a width and height "
                      "of at least a pixel or leave it out", UserWarning, stacklevel=4)


def _check_box(label: str, where: str, box: Any, frame: Frame) -> None:
    if not isinstance(box, Box):
        _fail(label, f"{where}: expected benchbench.api.Box, got {type(box).__name__}")
    values = {"x": box.x, "y": box.y, "w": box.w, "h": box.h, "score": box.score}
    for key, value in values.items():
        if not isinstance(value, int | float) or not math.isfinite(value):
            _fail(label, f"{where}: {key}={value!r} is not a finite number")
    if box.w < 0 or box.h < 0:
        _fail(label, f"{where}: negative size w={box.w} h={box.h}")
    tol = BOUNDS_TOLERANCE
    if box.x < -tol or box.y < -tol or box.x + box.w > frame.width + tol or box.y + box.h > frame.height + tol:
        _fail(label, f"{where}: box {box.x:.1f},{box.y:.1f},{box.w:.1f},{box.h:.1f} (x,y,w,h) is outside the "
                     f"{frame.width}x{frame.height} image{box_meaning.outside_cause(box, frame, tol)}")
    if not 0.0 <= box.score <= 1.0:
        _fail(label, f"{where}: score {box.score} is outside [0, 1]")


def _check_same(label: str, what: str, expected: Sequence[list[Box]], got: Any) -> None:
    if not isinstance(got, list) or len(got) != len(expected):
        _fail(label, f"{what}: got {len(got) if isinstance(got, list) else got!r} box lists, "
                     f"expected {len(expected)}")
    for i, (a, b) in enumerate(zip(expected, got, strict=True)):
        if list(a) != list(b):
            _fail(label, f"{what}: frame {i} differs: {_show(a)} vs {_show(b)}")


def _show(boxes: Sequence[Box], limit: int = 3) -> str:
    shown = ", ".join(f"({b.x:.3f},{b.y:.3f},{b.w:.3f},{b.h:.3f} s={b.score:.4f})" for b in list(boxes)[:limit])
    more = f" +{len(boxes) - limit} more" if len(boxes) > limit else ""
    return f"{len(boxes)} boxes [{shown}{more}]"
