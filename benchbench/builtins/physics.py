"""Generator ``physics``: synthetic frames from the flying-spot simulator (``benchbench.data.simulate``),
with exact boxes; no weights, no torch."""

from __future__ import annotations

import hashlib
from typing import Any

from benchbench.data.simulate import LABEL_CODE, crop_size, make_frame
from benchbench.errors import UserError
from benchbench.frames import Frame
from benchbench.hashing import sha256_json
from benchbench.protocols import CellContext, GenerationRequest


def generator_seed(seed: int) -> int:
    """The simulator seed the ``physics`` generator draws run seed ``seed`` from.

    A stream no dataset seed reaches in practice: with the run seed used directly, the generator at
    seed 0 re-drew the ``simulated`` dataset's seed-0 scenes and specimens, held-out test frames
    included (62 of 191 quickstart frames were pixel copies of test frames).
    """
    digest = hashlib.sha256(f"benchbench physics generator:{int(seed)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 2


class PhysicsGenerator:
    """Generator ``physics``: synthetic frames from the simulator, with exact boxes; guidance is ignored."""

    name = "physics"
    version = "1.1.0"  # 1.1: frames from generator_seed(seed), disjoint from the simulated datasets'

    def __init__(self, size=None, positive_fraction: float | None = None, difficulty: float = 1.0):
        # size: None = the request's size; an int; or a list of sizes to vary crops like FLYD-S.
        self.size = size
        self.positive_fraction = positive_fraction  # read by the planner when set
        self.difficulty = float(difficulty)

    def fingerprint(self) -> str:
        size = list(self.size) if isinstance(self.size, (list, tuple)) else self.size
        return sha256_json({"generator": self.name, "version": self.version, "size": size,
                            "difficulty": self.difficulty})

    def training_manifest(self) -> dict[str, Any]:
        """The simulator learns from no frame: its constants are set once, in this module."""
        return {"trainer": "physics simulator (no training frames)", "frames": [], "groups": [], "no_data": True}

    def generate(self, req: GenerationRequest, ctx: CellContext | None = None) -> list[Frame]:
        if req.label not in LABEL_CODE:
            raise UserError(f"unknown label {req.label!r}", fix="use 'crack' or 'sane'")
        sizes = self.size if isinstance(self.size, (list, tuple)) else None
        size = int(self.size) if isinstance(self.size, int) else int(req.size)
        out = []
        seed = generator_seed(req.seed)
        for k, i in enumerate(range(req.start_index, req.start_index + req.n)):
            out.append(make_frame(seed, req.label, i, size=crop_size(seed, req.label, i, size, sizes),
                                  difficulty=self.difficulty, group_prefix="sim-"))
            if ctx is not None and (k % 64 == 0 or k == req.n - 1):
                ctx.report(f"physics {req.label}", (k + 1) / max(req.n, 1))
        return out
