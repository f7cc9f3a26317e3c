"""Toy plugins that misuse their process, for tests/test_faults_input.py.

Load with ``BENCHBENCH_PLUGIN_MODULES=benchbench_toys,benchbench_hostile``. Each detector is the
toy detector (same fit, same predictions) that also does one thing a plugin should not: change
directory, delete the files around it, print, change the environment, or put rich markup in its
error; and an observer that fails or hangs like a tracking server that does not answer.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from benchbench_toys import ToyDetector

from benchbench.api import require_local_path
from benchbench.hookspecs import hookimpl

__version__ = "1.0[/]"  # rich markup in a version: `bench plugins` must print it literally

HANG_S = 600.0


class WandererDetector(ToyDetector):
    """Leaves the process in another directory, as a plugin that ``os.chdir``s to its data would."""

    name = "wanderer"

    def __init__(self, to: str = "/"):
        super().__init__()
        self.to = to

    def fit(self, train, val, ctx) -> None:
        os.chdir(self.to)
        super().fit(train, val, ctx)


class SweeperDetector(ToyDetector):
    """Deletes every file in its current directory and sets an environment variable, then fits as usual."""

    name = "sweeper"

    def fit(self, train, val, ctx) -> None:
        for p in Path(".").iterdir():
            if p.is_file():
                p.unlink()
        os.environ["BENCHBENCH_HOSTILE_LEFTOVER"] = "1"
        super().fit(train, val, ctx)


class ChattyDetector(ToyDetector):
    """Prints from Python and writes to the file descriptors directly, as C libraries do."""

    name = "chatty"
    version = "1.0[/]"  # shown by the leaderboard: not markup

    def fit(self, train, val, ctx) -> None:
        print("chatty: fitting {not json")
        print("chatty: on stderr", file=sys.stderr)
        os.write(1, b"chatty: raw fd 1\n")
        super().fit(train, val, ctx)

    def predict(self, frames, ctx):
        print("chatty: predicting")
        if os.environ.get("BENCHBENCH_HOSTILE_LEFTOVER"):
            raise RuntimeError("an earlier job's environment leaked into this one")
        return super().predict(frames, ctx)


class PathDetector(ToyDetector):
    """A well-behaved plugin with a relative path in its parameters (as ``weights: weights/ddpm``)."""

    name = "pathy"

    def __init__(self, weights: str):
        super().__init__()
        self.weights = require_local_path(weights, field="weights")  # resolved where the matrix means it

    def fit(self, train, val, ctx) -> None:
        if self.weights.read_text() != "weights\n":
            raise RuntimeError(f"read the wrong {self.weights}")
        super().fit(train, val, ctx)


class MarkupDetector(ToyDetector):
    """Fails with an error full of rich markup."""

    name = "markup"

    def fit(self, train, val, ctx) -> None:
        raise RuntimeError("bad [/bold] value [red]x[/red] in [config]")


@hookimpl
def benchbench_cell_finished(result):
    """An observer that fails (BENCHBENCH_HOSTILE_OBSERVER=fail), or first waits as an unreachable
    tracking server would (=hang); without the variable it does nothing."""
    mode = os.environ.get("BENCHBENCH_HOSTILE_OBSERVER")
    if mode == "hang":
        time.sleep(HANG_S)
    if mode:
        raise ConnectionError(f"tracking server refused cell {result['id']}")


@hookimpl
def benchbench_register_detectors(register):
    register("wanderer", "benchbench_hostile:WandererDetector")
    register("sweeper", "benchbench_hostile:SweeperDetector")
    register("chatty", "benchbench_hostile:ChattyDetector")
    register("markup", "benchbench_hostile:MarkupDetector")
    register("pathy", "benchbench_hostile:PathDetector")
