"""Training-loop utilities: the options every training run has, checkpoints with exact resume, the
learning-rate replay, a progress bar."""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchbench.errors import UserError

MIXED_PRECISION = ("no", "fp16", "bf16")  # accelerate's modes


@dataclass(kw_only=True)
class TrainingRun:
    """How a ``bench train`` command of a diffusion plugin runs, whatever it trains: the base of the
    plugin's training config, whose click options :func:`training_options` adds.

    Keyword-only, so a subclass may start with fields that have no default; a subclass declared
    ``@dataclass(kw_only=True)`` may also change a default (``checkpoint_every: int = 1000``).
    """

    mixed_precision: str = "no"
    checkpoint_every: int = 500  # optimizer steps
    checkpoints_keep: int = 2
    resume: bool = False  # from the last checkpoint under the output folder
    seed: int = 0
    device: str | None = None  # None: auto
    quiet: bool = False  # no progress bar

    def validate(self) -> Any:
        """Raise a UserError naming the option that is out of range; a subclass extends it."""
        if self.checkpoint_every < 1:
            raise UserError("checkpoint_every must be at least 1", field="--checkpoint-every")
        if self.mixed_precision not in MIXED_PRECISION:
            raise UserError(f"unknown mixed precision '{self.mixed_precision}'", field="--mixed-precision",
                            fix="use " + ", ".join(MIXED_PRECISION))


class Checkpoints:
    """Training checkpoints under ``root/step-NNNNNNN``: module weights (safetensors),
    optimizer state (``torch.load(weights_only=True)``-safe) and a JSON state.

    Modules are anything with ``state_dict``/``load_state_dict``; the step-deterministic
    batches and noise of :func:`batch_indices`/:func:`step_generator` make a resumed run
    continue exactly where the interrupted one would have gone.
    """

    def __init__(self, root: str | os.PathLike, keep: int = 2):
        self.root = Path(root)
        self.keep = max(1, int(keep))

    def list(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.glob("step-*") if (p / "state.json").is_file())

    def latest(self) -> Path | None:
        found = self.list()
        return found[-1] if found else None

    def save(self, step: int, modules: dict[str, Any], optimizer: Any, state: dict[str, Any]) -> Path:
        import torch

        from benchbench.torchkit import save_state

        final = self.root / f"step-{step:07d}"
        tmp = self.root / f".tmp-step-{step:07d}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name, module in modules.items():
            save_state({k: v.detach().cpu() for k, v in module.state_dict().items()}, tmp / f"{name}.safetensors")
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps({**state, "step": step}, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)  # atomic: a half-written checkpoint is never picked by latest()
        for old in self.list()[:-self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def load(self, path: str | os.PathLike, modules: dict[str, Any], optimizer: Any) -> dict[str, Any]:
        import torch

        from benchbench.torchkit import load_state

        path = Path(path)
        for name, module in modules.items():
            module.load_state_dict(load_state(path / f"{name}.safetensors"))
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True, map_location="cpu"))
        return json.loads((path / "state.json").read_text())


def optimizer_step(accelerator: Any, params: Any, optimizer: Any, lr_scheduler: Any, *, loss: float, step: int,
                   losses: list[float], max_grad_norm: float, what: str = "") -> int:
    """End training step ``step`` (from 0) once its loss is back-propagated; returns the steps done.

    A loss that is not finite stops the training with a user error (``what`` prefixes it, e.g. the
    class) before the step can spread it into the weights. Otherwise: clip the gradients' norm to
    ``max_grad_norm`` (when > 0), step the optimizer and the learning-rate schedule, clear the
    gradients and append ``loss`` to ``losses``.
    """
    if not math.isfinite(loss):
        raise UserError(f"{what}loss became {loss} at step {step + 1}", field="--lr",
                        fix="lower --lr or use --mixed-precision no")
    if max_grad_norm > 0:
        accelerator.clip_grad_norm_(params, max_grad_norm)
    optimizer.step()
    lr_scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    losses.append(loss)
    return step + 1


def advance_schedule(lr_scheduler: Any, steps: int) -> None:
    """Replay ``steps`` learning-rate schedule steps after a resume (schedules are functions of
    the step), without torch's "lr_scheduler.step() before optimizer.step()" warning."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)`")
        for _ in range(steps):
            lr_scheduler.step()


@contextmanager
def progress_bar(total: int, description: str, *, quiet: bool = False,
                 start: int = 0) -> Iterator[Callable[..., None]]:
    """A rich progress bar; yields ``update(advance=1, **fields)`` (fields shown, e.g. loss)."""
    if quiet:
        yield lambda advance=1, **fields: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), TextColumn("{task.fields[info]}"), transient=False) as prog:
        task = prog.add_task(description, total=total, completed=start, info="")

        def update(advance: int = 1, **fields: Any) -> None:
            info = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
            prog.update(task, advance=advance, info=info)

        yield update
