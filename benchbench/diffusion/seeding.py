"""Seeds and step-deterministic draws: image i and training step s depend only on their own seed."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np


def image_seed(seed: int, label: str, index: int) -> int:
    """The torch seed of image ``index`` of class ``label`` for run seed ``seed``.

    A hash (not ``seed + index``) so that neighbouring run seeds never share images.
    """
    digest = hashlib.sha256(f"benchbench:{int(seed)}:{label}:{int(index)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def step_seed(seed: int, step: int, stream: str = "train") -> int:
    """Seed of one training step: every random draw of step s depends only on (seed, s)."""
    digest = hashlib.sha256(f"benchbench:{stream}:{int(seed)}:{int(step)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def step_generator(seed: int, step: int, stream: str = "train") -> Any:
    """A CPU ``torch.Generator`` for one training step (bit-identical after a resume)."""
    import torch

    return torch.Generator(device="cpu").manual_seed(step_seed(seed, step, stream))


def batch_indices(n: int, batch: int, step: int, seed: int) -> list[int]:
    """Sample indices of training step ``step``: a fresh permutation of ``range(n)`` per epoch.

    Depends only on (n, batch, step, seed), so a resumed run sees the same batches.
    """
    if n <= 0:
        raise ValueError("no training samples")
    out: list[int] = []
    pos = step * batch
    while len(out) < batch:
        epoch, offset = divmod(pos, n)
        perm = np.random.default_rng([int(seed) % (2**32), epoch]).permutation(n)
        take = min(batch - len(out), n - offset)
        out.extend(int(i) for i in perm[offset:offset + take])
        pos += take
    return out


def probe_noise(n: int, shape: Sequence[int], seed: int, num_train_timesteps: int) -> tuple[Any, Any]:
    """Fixed noise (n, *shape) and n timesteps spread over 5-95 % of the schedule.

    With fixed images these give a "probe" denoising loss that is comparable between
    training steps (the per-step loss jumps with its random timesteps).
    """
    import torch

    gen = step_generator(seed, 0, stream="probe")
    noise = torch.randn((n, *shape), generator=gen)
    timesteps = torch.linspace(num_train_timesteps * 0.05, num_train_timesteps * 0.95, n).long()
    return noise, timesteps
