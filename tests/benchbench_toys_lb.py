"""A toy detector whose predictions carry controlled noise, for the comparison and leaderboard tests.

``noisydet`` is the toy detector of ``benchbench_toys`` with its boxes moved by a seeded random
offset: ``noise`` is the offset's standard deviation as a fraction of the box width (x) and height (y);
``noise_seed`` picks the draw. Two runs that differ only in ``noise_seed`` at a small ``noise``
model run-to-run noise; a large ``noise`` is a genuinely worse detector (boxes miss the crack).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from benchbench_toys import ToyDetector

from benchbench.api import Box, CellContext, FrameSet
from benchbench.hookspecs import hookimpl

__version__ = "1.0"


class NoisyDetector(ToyDetector):
    name = "noisydet"
    version = "1"

    def __init__(self, noise: float = 0.0, noise_seed: int = 0):
        super().__init__()
        self.noise, self.noise_seed = noise, noise_seed

    def params(self) -> dict:
        return {"noise": self.noise, "noise_seed": self.noise_seed}

    def predict(self, frames: FrameSet, ctx: CellContext) -> list[list[Box]]:
        rng = np.random.default_rng([self.noise_seed, ctx.seed])
        out = []
        for boxes in super().predict(frames, ctx):
            moved = []
            for b in boxes:
                dx, dy = rng.normal(0.0, self.noise, size=2) * (b.w, b.h)
                moved.append(Box(b.x + dx, b.y + dy, b.w, b.h, score=b.score))
            out.append(moved)
        return out


@hookimpl
def benchbench_register_detectors(register):
    register("noisydet", NoisyDetector)


# --------------------------------------------------------------------------- runs for the tests
MATRIX = """
name: {name}
seed: [0, 1]
data: {{dataset: toydata, n: 96, groups: 12}}
split: {{test_fraction: 0.34}}
generators:
  - {{name: tg, plugin: toygen}}
detectors:
  - {{name: det, plugin: noisydet, noise: {noise}, noise_seed: {noise_seed}}}
axes: {{synthetic_ratio: [0, 1], guidance: [7, 9]}}
metrics: {{bootstrap: 20}}
labeler: {{kind: teacher, threshold: 0.3}}
samples: 0
{extra}
"""
# name -> (noise, noise_seed): "noise" differs from "base" by the noise draw only; "worse" misplaces boxes.
RUNS = {"base": (0.05, 1), "noise": (0.05, 2), "worse": (1.0, 1)}
_made: dict[str, dict[str, Path]] = {}


def plugin_modules() -> str:
    """Toy plugins for `bench run`, plus the leaderboard observer unless core already loads it."""
    import benchbench.builtins.observers
    from benchbench.plugins import Plugins

    builtin = Plugins().load().pm.is_registered(benchbench.builtins.observers)
    return "benchbench_toys,benchbench_toys_lb" + ("" if builtin else ",benchbench.builtins.observers")


def make_runs(root: Path) -> dict[str, Path]:
    """Run the three matrices once per ``root`` with `bench run` (in-process); "base" auto-submits
    to ``root/observed.sqlite`` through the observer and writes its report. Returns name -> run folder."""
    import os

    from click.testing import CliRunner

    from benchbench.cli import main
    from benchbench.plugins import reset_plugins

    key = str(root)
    if key in _made:
        return _made[key]
    old = os.environ.get("BENCHBENCH_PLUGIN_MODULES")
    os.environ["BENCHBENCH_PLUGIN_MODULES"] = plugin_modules()
    reset_plugins()
    try:
        out = {}
        for name, (noise, noise_seed) in RUNS.items():
            extra = f"leaderboard: {root / 'observed.sqlite'}" if name == "base" else ""
            matrix = root / f"{name}.yaml"
            matrix.write_text(MATRIX.format(name=name, noise=noise, noise_seed=noise_seed, extra=extra))
            # "base" also writes its report, as `bench run` does by default.
            report = [] if name == "base" else ["--no-report"]
            res = CliRunner().invoke(main, ["run", str(matrix), "--results-dir", str(root / "results"),
                                            "--cache-dir", str(root / "cache"), "-q", *report])
            if res.exit_code != 0:
                raise RuntimeError(f"bench run {name} failed ({res.exit_code}): {res.output}\n{res.exception!r}")
            out[name] = root / "results" / name
    finally:
        if old is None:
            os.environ.pop("BENCHBENCH_PLUGIN_MODULES", None)
        else:
            os.environ["BENCHBENCH_PLUGIN_MODULES"] = old
        reset_plugins()
    _made[key] = out
    return out
