"""Training-loop utilities: checkpoints with exact resume, the learning-rate replay, a progress bar."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


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
