"""What the harness and a plugin exchange: a generation request, the cell context, and the
protocols a detector, generator, dataset or executor follows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from benchbench.frames import Box, Frame, FrameSet, Label

# A detector's prediction at a checkpoint: boxes for the frames given, as ``Detector.predict`` returns.
CheckpointPredict = Callable[[FrameSet], list[list[Box]]]


@dataclass(frozen=True)
class GenerationRequest:
    """Ask a generator for frames ``start_index .. start_index+n-1`` of one class.

    Frame i must depend only on (seed, label, guidance, i), never on n or batching,
    so that nested generation and caching are exact.
    """

    label: Label
    n: int
    guidance: float | None = None
    seed: int = 0
    size: int = 128
    start_index: int = 0
    prompt: str | None = None


@dataclass
class CellContext:
    """What the harness gives a plugin for one unit of work."""

    cell_id: str
    seed: int
    work_dir: Path
    cache_dir: Path
    device: str = "auto"  # "auto" | "cpu" | "cuda[:i]"; resolve with benchbench.api.torch_device
    quiet: bool = False
    progress: Callable[[str, float | None], None] = field(default=lambda phase, frac: None)
    info: dict[str, Any] = field(default_factory=dict)
    # Equal-steps budget (matrix ``axes.budget: [steps]``): train as many optimizer steps as ``epochs``
    # would take on this many frames. None: train the detector's own ``epochs`` (equal epochs).
    budget_frames: int | None = None
    # Learning curve (matrix ``metrics.curve``): the shares of its training after which the detector
    # hands the harness its model of the moment (``checkpoint``). Empty: no curve is asked for.
    curve: tuple[float, ...] = ()
    on_checkpoint: Callable[[CheckpointPredict, int, float], None] | None = None

    def report(self, phase: str, fraction: float | None = None) -> None:
        """Tell the harness which phase runs (e.g. 'fit epoch 3/30') and how far it is (0..1)."""
        self.progress(phase, fraction)

    def record(self, key: str, value: Any) -> None:
        """Store a JSON-able fact (hyper-parameters, counts) that ends up in the cell's result."""
        self.info[key] = value

    def epochs_for(self, epochs: int, n_train: int) -> int:
        """The epochs to train under this cell's budget.

        At equal epochs, ``epochs``. At equal steps, the epochs over ``n_train`` frames that make as
        many optimizer steps as ``epochs`` over ``budget_frames`` frames (rounded, at least 1), so a
        real-only cell trains as long as the largest-ratio cell of its row.
        """
        if self.budget_frames is None or n_train <= 0:
            return int(epochs)
        return max(1, round(epochs * self.budget_frames / n_train))

    def record_budget(self, *, epochs: int, steps: int, images: int) -> None:
        """Say what training ran (epochs, optimizer steps, images seen); results.json keeps it per cell."""
        self.info["budget"] = {"epochs": int(epochs), "steps": int(steps), "images_seen": int(images)}

    def checkpoints(self, total: int) -> list[int]:
        """After which of ``total`` training units (epochs, or steps for a detector that can pause
        between any two steps) to call :meth:`checkpoint`: the matrix's ``metrics.curve`` shares of
        ``total``, rounded (at least 1); [] when the matrix asks for no learning curve."""
        if total <= 0:
            return []
        return sorted({min(total, max(1, round(share * total))) for share in self.curve})

    def checkpoint(self, predict: CheckpointPredict, *, steps: int, epochs: float) -> None:
        """Let the harness evaluate the model as it is now, after ``steps`` optimizer steps (``epochs``
        passes over the training frames), for the cell's learning curve.

        ``predict(frames)`` must return the boxes the model of this moment gives, as ``predict`` does,
        and leave the training as it was (no random draw, no change to the model). The harness calls
        it at once on the test frames (ground truth removed) and scores them with its own copy of the
        truth. Nothing comes back: a detector never sees a test score, so nothing is chosen on it.
        """
        if self.on_checkpoint is not None:
            self.on_checkpoint(predict, int(steps), float(epochs))


# --------------------------------------------------------------------------- protocols
@runtime_checkable
class Detector(Protocol):
    name: str
    version: str

    def fit(self, train: FrameSet, val: FrameSet | None, ctx: CellContext) -> None: ...

    def predict(self, frames: FrameSet, ctx: CellContext) -> list[list[Box]]: ...


@runtime_checkable
class Generator(Protocol):
    name: str
    version: str

    def fingerprint(self) -> str: ...

    def generate(self, req: GenerationRequest, ctx: CellContext) -> list[Frame]: ...


@runtime_checkable
class Dataset(Protocol):
    name: str
    version: str

    def fingerprint(self) -> str: ...

    def load(self) -> FrameSet: ...


@runtime_checkable
class Executor(Protocol):
    """Runs the jobs of a run; ``map`` is the whole protocol, two methods are optional.

    ``run(queue, progress=None)``, when present, is what the runner calls instead of ``map``: it
    gets every job of the run at once, in dependency order, and should hand each one out as soon as
    the jobs it needs have ended (the built-in executors do); ``progress`` is as for ``map``. The
    loop, all in the driver:

    * ``queue.take()`` gives a ready job or None when none is ready now; a job's ``fn(job.item)`` is
      the work (``fn`` is module-level, so a worker imports it; ``item`` is picklable), ``job.key``
      names it. Take jobs while there is room;
    * ``queue.done(job, result)`` reports each end, ``result`` the value ``fn`` returned or the
      exception it raised (never raise it): that may make other jobs ready;
    * stop when ``queue.finished``; with nothing running, nothing ready and jobs left, raise
      ``queue.stuck()``.

    Without ``run``, the runner calls ``map`` with every ready job at once, then with the jobs that
    became ready meanwhile, and so on (docs/scale-out.md). ``close()``, when present, is called when
    the run ends (stop idle workers, disconnect).
    """

    name: str

    def map(self, fn: Callable[..., Any], items: Sequence[Any], on_result: Callable[[int, Any], None],
            progress: Callable[[str, str, float | None], None] | None = None) -> None:
        """Run ``fn(item)`` for each item, in any order and maybe elsewhere.

        Calls ``on_result(i, result)`` in the driver as each item ends; an exception raised by
        ``fn`` is passed as the result instead of being raised. ``progress`` may be passed on as
        ``fn(item, progress)`` when fn runs in the driver's process.
        """
        ...
