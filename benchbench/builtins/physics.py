"""Generator ``physics``: synthetic frames from the flying-spot simulator (``benchbench.data.simulate``),
with exact boxes; no weights, no torch."""

from __future__ import annotations

import hashlib
from typing import Any

from benchbench.builtins.physics_calibration import calibration
from benchbench.data.simulate import LABEL_CODE, check_size, crop_size, make_frame
from benchbench.errors import UserError
from benchbench.frames import Frame, FrameSet
from benchbench.hashing import sha256_json
from benchbench.pipeline.calibration import crop_size as crop_size_of  # made at the harness's size: no resampling
from benchbench.protocols import CellContext, GenerationRequest


def generator_seed(seed: int) -> int:
    """The simulator seed the ``physics`` generator draws run seed ``seed`` from.

    A stream no dataset seed reaches in practice: with the run seed used directly, the generator at
    seed 0 re-drew the ``simulated`` dataset's seed-0 scenes and specimens, held-out test frames
    included (62 of 191 quickstart frames were pixel copies of test frames).
    """
    digest = hashlib.sha256(f"benchbench physics generator:{int(seed)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 2


CRACKS = ("simulated", "train")


class PhysicsGenerator:
    """Generator ``physics``: synthetic frames from the simulator, with exact boxes and crack masks;
    guidance is ignored.

    ``calibrate(train)`` measures the fold's real training frames (``physics_calibration``); given that
    calibration, frames come at the real crop sizes (unless ``size`` is set) with the real crack heights,
    and with ``cracks: train`` every cracked frame is drawn around a (jittered) crack of a training mask.
    """

    name = "physics"
    # 1.1: frames from generator_seed(seed), disjoint from the simulated datasets'
    # 1.2: calibrate(); frames carry their crack mask (labeler: mask)
    version = "1.2.0"

    def __init__(self, size=None, positive_fraction: float | None = None, difficulty: float = 1.0,
                 cracks: str = "simulated"):
        # size: None = the calibration's crop sizes, else the request's size; an int; or a list of sizes.
        for s in (size if isinstance(size, list | tuple) else [] if size is None else [size]):
            check_size(s, None)  # before a cell renders one (a typo'd 1000000 px frame is terabytes)
        self.size = size
        self.positive_fraction = positive_fraction  # read by the planner when set
        self.difficulty = float(difficulty)
        if cracks not in CRACKS:
            raise UserError(f"unknown cracks {cracks!r}", field="cracks",
                            fix="use simulated (the simulator draws them) or train (the training masks' cracks)")
        self.cracks = cracks

    def fingerprint(self) -> str:
        size = list(self.size) if isinstance(self.size, (list, tuple)) else self.size
        return sha256_json({"generator": self.name, "version": self.version, "size": size,
                            "difficulty": self.difficulty, "cracks": self.cracks})

    def training_manifest(self) -> dict[str, Any]:
        """No frame trains the simulator; what it takes from data comes from ``calibrate`` (the fold's
        training frames, recorded by the harness). Its hand-set constants are not from this run's data."""
        return {"trainer": "physics simulator: hand-set constants (read off FLYD-S Sample1-5, 8 during "
                           "development, docs/data.md) + calibrate() on the fold's training frames",
                "frames": [], "groups": [], "no_data": True}

    def calibrate(self, train: FrameSet) -> dict[str, Any]:
        """Crop sizes (unless ``size`` is set), crack heights and (``cracks: train``) crack polylines of the
        real training frames."""
        cal = calibration(train, with_paths=self.cracks == "train")
        if self.size is not None:  # sizes fixed by the user: no crop_sizes, so the harness resizes nothing
            del cal["crop_sizes"]  # (a resize would also leave the frame's crack mask at the old size)
        if self.cracks == "train" and not cal["crack_paths"]:
            raise UserError("cracks: train needs training frames with crack masks, and these have none",
                            field="cracks", fix="use a masks-layout dataset (FLYD-S) or cracks: simulated")
        return cal

    def generate(self, req: GenerationRequest, ctx: CellContext | None = None) -> list[Frame]:
        if req.label not in LABEL_CODE:
            raise UserError(f"unknown label {req.label!r}", fix="use 'crack' or 'sane'")
        cal = req.calibration or {}
        if self.cracks == "train" and not cal.get("crack_paths"):
            raise UserError("cracks: train draws around the training masks' cracks, and no calibration came "
                            "with the request", field="cracks", fix="run it through bench run, or cracks: simulated")
        sizes = self.size if isinstance(self.size, (list, tuple)) else None
        size = int(self.size) if isinstance(self.size, int) else int(req.size)
        seed = generator_seed(req.seed)
        lengths = tuple(cal["crack_heights"]) if cal.get("crack_heights") else None
        paths = tuple(tuple(map(tuple, p)) for p in cal["crack_paths"]) if self.cracks == "train" else None
        out = []
        for k, i in enumerate(range(req.start_index, req.start_index + req.n)):
            if self.size is None and cal.get("crop_sizes"):
                side = crop_size_of(cal["crop_sizes"], req.seed, req.label, i)
            else:
                side = crop_size(seed, req.label, i, size, sizes)
            out.append(make_frame(seed, req.label, i, size=side, difficulty=self.difficulty, group_prefix="sim-",
                                  lengths=lengths, paths=paths, with_mask=True))
            if ctx is not None and (k % 64 == 0 or k == req.n - 1):
                ctx.report(f"physics {req.label}", (k + 1) / max(req.n, 1))
        return out
